//! The frame every page shares: the header bar with the role's links and sign-out, the
//! stylesheet and script, and the CSRF token the script sends with its calls.

use maud::{DOCTYPE, Markup, html};
use tongban_protocol::engine::Actor;

use super::session::Session;

/// A whole page: `title`, the signed-in `session` (if any) and the page's `body`.
pub(super) fn page(title: &str, session: Option<&Session>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = session {
                    meta name="csrf-token" content=(s.csrf);
                    // app.js uploads materials by the federation's digest.
                    meta name="tongban-digest" content=(s.suite.digest_name());
                }
                title { (title) " · 跨省通办" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                a.skip href="#main" { "跳到正文" }
                header.bar {
                    a.brand href="/" { "跨省通办 · tongban" }
                    @if let Some(s) = session {
                        nav aria-label="主菜单" {
                            @match &s.actor {
                                Actor::Window { .. } => {
                                    a href="/catalog" { "事项查询" }
                                    a href="/cases" { "我的办件" }
                                    a href="/licences" { "电子证照调取" }
                                }
                                Actor::BackOffice => {
                                    a href="/cases" { "待办件" }
                                    a href="/catalog" { "事项目录" }
                                }
                                Actor::Admin => {
                                    a href="/federation" { "联盟状态" }
                                    a href="/cases" { "全部办件" }
                                    a href="/catalog" { "事项目录" }
                                }
                                Actor::ApplicantApp => {}
                            }
                        }
                        div.who {
                            span #who { (role_name(&s.actor)) "：" (s.name) }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button.link type="submit" #logout { "退出" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The role as staff call it.
pub(super) fn role_name(actor: &Actor) -> String {
    match actor {
        Actor::Window { window, operator } => format!("窗口 {window}（工号 {operator}）"),
        Actor::BackOffice => "办理地后台".into(),
        Actor::Admin => "节点管理员".into(),
        Actor::ApplicantApp => "申请人移动端".into(),
    }
}

/// A form's hidden CSRF field.
pub(super) fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// The error shown under a field, if it has one, tied to it for screen readers.
pub(super) fn field_error(id: &str, error: Option<&str>) -> Markup {
    html! {
        p.err id=(format!("{id}-err")) role="status" aria-live="polite" {
            @if let Some(e) = error { (e) }
        }
    }
}

/// A QR code of `text` as an SVG image (empty if the text is too long for one), for what a
/// window prints: a receipt's or a licence's digest.
pub(super) fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(160, 160)
                .build()
        })
        .unwrap_or_default()
}
