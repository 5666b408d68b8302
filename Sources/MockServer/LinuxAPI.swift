#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// epoll, timerfd, eventfd and accept4. Swift's Glibc module does not include <sys/epoll.h>,
/// <sys/timerfd.h> or <sys/eventfd.h> (nor the GNU `accept4`), and this target may not add a C module, so the calls are
/// looked up once with dlsym and called through correctly typed C function pointers (ABI-exact,
/// unlike `@_silgen_name`), with the constants and the `epoll_event` layout spelled out here.
enum Linux {
    typealias EpollCreate1 = @convention(c) (Int32) -> Int32
    typealias EpollCtl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias EpollWait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32
    typealias TimerfdCreate = @convention(c) (Int32, Int32) -> Int32
    typealias TimerfdSettime = @convention(c) (Int32, Int32, UnsafePointer<itimerspec>?, UnsafeMutablePointer<itimerspec>?) -> Int32
    typealias Eventfd = @convention(c) (UInt32, Int32) -> Int32
    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    /// prctl is variadic in C; the System V x86-64 and AAPCS64 (Linux) conventions pass these
    /// integer arguments the same way either way.
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>?) -> Int32

    struct Functions: @unchecked Sendable {
        let epollCreate1: EpollCreate1
        let epollCtl: EpollCtl
        let epollWait: EpollWait
        let timerfdCreate: TimerfdCreate
        let timerfdSettime: TimerfdSettime
        let eventfd: Eventfd
        let accept4: Accept4
        let setName: SetName?
        let prctl: Prctl?
    }

    /// nil where the C library lacks one of the calls (not Linux).
    static let functions: Functions? = {
        guard let handle = dlopen(nil, RTLD_NOW) else { return nil }
        func sym<T>(_ name: String, _ type: T.Type) -> T? {
            guard let p = dlsym(handle, name) else { return nil }
            return unsafeBitCast(p, to: type)
        }
        guard let c1 = sym("epoll_create1", EpollCreate1.self),
              let ctl = sym("epoll_ctl", EpollCtl.self),
              let wait = sym("epoll_wait", EpollWait.self),
              let tc = sym("timerfd_create", TimerfdCreate.self),
              let ts = sym("timerfd_settime", TimerfdSettime.self),
              let ev = sym("eventfd", Eventfd.self),
              let acc = sym("accept4", Accept4.self)
        else { return nil }
        return Functions(epollCreate1: c1, epollCtl: ctl, epollWait: wait, timerfdCreate: tc, timerfdSettime: ts,
                         eventfd: ev, accept4: acc, setName: sym("pthread_setname_np", SetName.self),
                         prctl: sym("prctl", Prctl.self))
    }()

    // <sys/epoll.h>
    static let EPOLLIN: UInt32 = 0x001
    static let EPOLLOUT: UInt32 = 0x004
    static let EPOLLERR: UInt32 = 0x008
    static let EPOLLHUP: UInt32 = 0x010
    static let EPOLLRDHUP: UInt32 = 0x2000
    static let EPOLL_CTL_ADD: Int32 = 1
    static let EPOLL_CTL_DEL: Int32 = 2
    static let EPOLL_CTL_MOD: Int32 = 3
    static let EPOLL_CLOEXEC = Int32(O_CLOEXEC)
    // <sys/timerfd.h>, <sys/eventfd.h>
    static let TFD_NONBLOCK = Int32(O_NONBLOCK)
    static let TFD_CLOEXEC = Int32(O_CLOEXEC)
    static let TFD_TIMER_ABSTIME: Int32 = 1
    static let EFD_NONBLOCK = Int32(O_NONBLOCK)
    static let EFD_CLOEXEC = Int32(O_CLOEXEC)
    // <sys/prctl.h>
    static let PR_SET_TIMERSLACK: Int32 = 29

    /// `struct epoll_event` is packed on x86-64 (12 bytes: events, then the 64-bit data at
    /// offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8).
    #if arch(x86_64) || arch(i386)
    static let eventSize = 12
    static let eventDataOffset = 4
    #else
    static let eventSize = 16
    static let eventDataOffset = 8
    #endif
}

/// A buffer of `struct epoll_event`s.
struct EpollEvents {
    let raw: UnsafeMutableRawPointer
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        raw = UnsafeMutableRawPointer.allocate(byteCount: capacity * Linux.eventSize, alignment: 16)
    }

    func deallocate() { raw.deallocate() }

    @inline(__always) func events(_ i: Int) -> UInt32 {
        raw.loadUnaligned(fromByteOffset: i * Linux.eventSize, as: UInt32.self)
    }

    @inline(__always) func data(_ i: Int) -> UInt64 {
        raw.loadUnaligned(fromByteOffset: i * Linux.eventSize + Linux.eventDataOffset, as: UInt64.self)
    }
}

/// epoll_ctl with one event built in place.
@inline(__always)
func epollControl(_ f: Linux.Functions, _ epfd: Int32, _ op: Int32, _ fd: Int32, events: UInt32, data: UInt64) -> Int32 {
    var buf: (UInt64, UInt64) = (0, 0)
    return withUnsafeMutableBytes(of: &buf) { b in
        b.storeBytes(of: events, toByteOffset: 0, as: UInt32.self)
        b.storeBytes(of: data, toByteOffset: Linux.eventDataOffset, as: UInt64.self)
        return f.epollCtl(epfd, op, fd, b.baseAddress)
    }
}
