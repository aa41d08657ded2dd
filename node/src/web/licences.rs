//! 电子证照 on the case page: each licence the handling region issued for the case, with the
//! digest that identifies it (what a printed copy carries and what a later application cites).

use maud::{Markup, PreEscaped, html};
use tongban_protocol::engine::IssuedLicence;
use tongban_protocol::ids::Masked;
use tongban_protocol::suite::Suite;

/// The case page's section of issued licences; nothing when none was issued.
pub(super) fn section(licences: &[IssuedLicence], suite: Suite) -> Markup {
    if licences.is_empty() {
        return html! {};
    }
    html! {
        section.card #licences {
            h2 { "电子证照" }
            @for issued in licences {
                @let l = &issued.licence;
                div.licence {
                    p { strong { (l.kind) } " · 编号 " (l.number) }
                    p { "持证主体：" (l.holder.name) " · 证件号码 " span.pii-shown { (Masked(&l.holder.id_number)) } }
                    p { "发证单位：" (l.issuer) "（" (l.region) "）· 有效期 " (l.valid_from) " 至 "
                        @match l.valid_until { Some(d) => (d), None => "长期" } }
                    p.muted { "证照摘要（" (suite.digest_name()) "，可据此核验）：" code.digest { (issued.digest) } }
                    div.qr aria-label="证照摘要二维码" { (PreEscaped(super::layout::qr_svg(&format!("tongban:licence:{}", issued.digest)))) }
                }
            }
        }
    }
}
