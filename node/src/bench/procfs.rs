//! What the bench reads of a process from /proc (Linux): its memory and the CPU time it has
//! used. Latency near saturation swings between runs (the nodes and the load share two
//! cores), while the CPU spent per application does not: that is the figure two builds are
//! compared by. Elsewhere these read `None` and the report leaves the figures out.

/// A memory figure of process `pid`, in MiB: `field` is `VmRSS:` or `VmHWM:`.
pub fn memory_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The CPU time process `pid` has used so far, all its threads, user and system, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The CPU time the threads of process `pid` named `name` have used so far (the node names
/// its engine thread `engine`), user and system, in seconds: `None` when none is.
pub fn thread_cpu_seconds(pid: u32, name: &str) -> Option<f64> {
    let mut total = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(line) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        if command_name(&line) == Some(name) {
            *total.get_or_insert(0.0) += parse_stat(&line)?;
        }
    }
    total
}

/// The command name of a `/proc/.../stat` line: between the first `(` and the last `)`.
fn command_name(line: &str) -> Option<&str> {
    line.get(line.find('(')? + 1..line.rfind(')')?)
}

/// The kernel reports CPU time in clock ticks of `USER_HZ`, which Linux fixes at 100 for
/// every program (sysconf(_SC_CLK_TCK)).
const USER_HZ: f64 = 100.0;

/// utime + stime from a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces, so the fields are counted after its closing parenthesis: state is the
/// first of them, utime and stime the 12th and 13th.
fn parse_stat(line: &str) -> Option<f64> {
    let rest = &line[line.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_user_plus_system_time() {
        // A real line's shape, with a command name holding a space and a parenthesis.
        let line = "4242 (tong ban)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 \
                    100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(line), Some(3.25));
        assert_eq!(command_name(line), Some("tong ban)"));
        assert_eq!(parse_stat("4242 (x) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_cpu_time_grows_while_it_works() {
        let me = std::process::id();
        let start = cpu_seconds(me).expect("/proc/<pid>/stat on Linux");
        // Spin until the kernel has counted at least two more ticks (20 ms), for at most 10 s
        // of wall time: a reader that returned a constant or the wrong fields would not move.
        let began = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_seconds(me).expect("stat") < start + 0.02 {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            assert!(
                began.elapsed() < std::time::Duration::from_secs(10),
                "CPU time stayed at {start} s"
            );
        }
        assert!(memory_mib(me, "VmRSS:").is_some_and(|m| m > 0.0));
        // The test harness names this thread after the test (the kernel keeps 15 bytes of
        // it): its own time grows as it spins, too.
        let name: String = std::thread::current()
            .name()
            .unwrap_or("")
            .chars()
            .take(15)
            .collect();
        let mine = || thread_cpu_seconds(me, &name).expect("this thread, by its name");
        let start = mine();
        while mine() < start + 0.02 {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            assert!(
                began.elapsed() < std::time::Duration::from_secs(20),
                "this thread's CPU time stayed at {start} s"
            );
        }
        assert!(thread_cpu_seconds(me, "no such thread").is_none());
        assert!(memory_mib(me, "NoSuchField:").is_none());
    }
}
