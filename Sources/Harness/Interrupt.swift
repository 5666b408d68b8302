#if canImport(Glibc)
import Glibc
#endif
import BenchCore

/// Stop requests for long runs: the first SIGINT (Ctrl-C) or SIGTERM (`timeout`, `docker stop`,
/// CI cancellation) asks the run to stop at the next safe point; results gathered so far are
/// then written and the command exits 128 + the signal (130 after SIGINT, 143 after SIGTERM). A
/// second signal exits at once.
public enum Interrupt {
    /// The signal that asked to stop (0: none).
    nonisolated(unsafe) static var requested: Int32 = 0

    public static func install() {
        // A parent may have started us with the signals blocked (the mask is inherited): unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        let handler: @convention(c) (Int32) -> Void = { sig in
            if Interrupt.requested != 0 { _exit(128 + sig) }
            Interrupt.requested = sig
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
    }

    public static var isRequested: Bool { requested != 0 }

    /// The exit code of a stopped run: 128 + the signal that stopped it (130 without one).
    public static var exitCode: Int32 { requested != 0 ? 128 + requested : ExitCodes.interrupted }

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
