#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C handling for long runs: the first SIGINT asks the run to stop at the next safe point
/// (results gathered so far are then written); a second one exits at once.
enum Interrupt {
    nonisolated(unsafe) static var requested: Int32 = 0

    static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested != 0 { _exit(130) }
            Interrupt.requested = 1
        }
    }

    static var isRequested: Bool { requested != 0 }
}
