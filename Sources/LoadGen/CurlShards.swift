import CCurlShim
import CLibCurl
#if canImport(Glibc)
import Glibc
#endif

/// One libcurl multi handle and its share of the connection pool. libcurl 7.88 walks every
/// connection of a multi handle's cache when a transfer starts (looking for an idle one) and
/// again when its handle is removed, so the cost of one request grows with the pool: at 12k
/// req/s offered, a single multi with 4,096 connections fell to 3.6k req/s sent. The runner
/// therefore spreads transfers over shards of `EndpointRunner.shardConnections` connections,
/// all driven by the same epoll loop; each shard reuses its own connections.
final class CurlShard {
    let multi: UnsafeMutableRawPointer
    /// libcurl's timer for this handle (CURLMOPT_TIMERFUNCTION), absolute monotonic seconds.
    var deadline: Double?
    var inflight = 0
    unowned let runner: EndpointRunner

    init?(runner: EndpointRunner, connections: Int, multiplex: Bool) {
        guard let m = curl_multi_init() else { return nil }
        multi = m
        self.runner = runner
        let me = Unmanaged.passUnretained(self).toOpaque()
        accel_multi_setopt_socket_cb(m, endpointSocketCallback)
        accel_multi_setopt_ptr(m, CURLMOPT_SOCKETDATA, me)
        accel_multi_setopt_timer_cb(m, endpointTimerCallback)
        accel_multi_setopt_ptr(m, CURLMOPT_TIMERDATA, me)
        accel_multi_setopt_long(m, CURLMOPT_MAX_HOST_CONNECTIONS, 0)
        // Keep every connection of the shard open between requests: a smaller cache would close
        // some after each burst, and the next requests would open new ones (TIME_WAIT, ports).
        accel_multi_setopt_long(m, CURLMOPT_MAXCONNECTS, connections)
        accel_multi_setopt_long(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections)
        accel_multi_setopt_long(m, CURLMOPT_PIPELINING, multiplex ? Int(CURLPIPE_MULTIPLEX) : 0)
    }

    deinit { curl_multi_cleanup(multi) }

    /// Hands libcurl its timeout when it is due.
    func fireTimerIfDue(now: Double) {
        guard let d = deadline, now >= d else { return }
        deadline = nil
        var running: Int32 = 0
        curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running)
    }
}

extension EndpointRunner {
    /// Connections per shard (64, our choice: at 10k req/s with 5 ms replies about 60 requests
    /// are in flight, so one shard serves them; libcurl's walks stay short at any pool size).
    /// HTTP/2 multiplexes streams onto few connections, so it uses a single shard.
    static let shardConnections = 64

    /// The shard for a new transfer: the least busy one, or a new one when all are full and the
    /// pool allows more. Nil only if libcurl cannot make a handle.
    func shardForNewTransfer() -> CurlShard? {
        var best: CurlShard?
        for s in shards where best == nil || s.inflight < best!.inflight { best = s }
        let perShard = options.http2 ? options.maxConnections : EndpointRunner.shardConnections
        if let best, best.inflight < perShard || shards.count * perShard >= options.maxConnections { return best }
        let multiplex = options.http2 && !(fullURL.hasPrefix("http:") && EndpointRunner.h2cReuseBroken)
        guard let s = CurlShard(runner: self, connections: min(perShard, options.maxConnections), multiplex: multiplex) else { return best }
        shards.append(s)
        return s
    }

    /// The earliest libcurl timer over all shards.
    var curlDeadline: Double? {
        var d: Double?
        for s in shards { if let x = s.deadline, d == nil || x < d! { d = x } }
        return d
    }
}

let endpointSocketCallback: accel_socket_cb = { _, fd, what, userp, _ in
    guard let userp else { return 0 }
    let shard = Unmanaged<CurlShard>.fromOpaque(userp).takeUnretainedValue()
    shard.runner.updateSocket(fd, what: what, shard: shard)
    return 0
}

let endpointTimerCallback: accel_timer_cb = { _, ms, userp in
    guard let userp else { return 0 }
    let shard = Unmanaged<CurlShard>.fromOpaque(userp).takeUnretainedValue()
    shard.deadline = ms < 0 ? nil : EndpointRunner.clock() + Double(ms) / 1000
    return 0
}
