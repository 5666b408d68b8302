#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C handling for long runs: the first SIGINT asks the run to stop at the next safe point
/// (results gathered so far are then written); a second one exits at once.
public enum Interrupt {
    nonisolated(unsafe) static var requested: Int32 = 0

    public static func install() {
        // A parent may have started us with SIGINT blocked (the mask is inherited): unblock it.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            if Interrupt.requested != 0 { _exit(130) }
            Interrupt.requested = 1
        }
    }

    public static var isRequested: Bool { requested != 0 }

    /// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts after
    /// (the mask is inherited), for a server that takes them with `sigwait` on the returned set.
    public static func blockStopSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return set
    }
}
