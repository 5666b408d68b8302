import BenchCore
import CCurlShim
import CLibCurl
import Foundation
import Tokenizer
#if canImport(Glibc)
import Glibc
#endif

/// How to talk to the endpoint under test.
public struct EndpointOptions: Sendable {
    /// Base URL (`http://host:port`) or a full `/v1/...` URL.
    public var url: String
    public var request: OpenAIRequestOptions
    public var promptFormat: PromptFormat = .tokens
    /// Extra headers, each "Name: value".
    public var headers: [String] = []
    /// The API key's value (read by the CLI from an environment variable). Sent as a bearer
    /// token; never written anywhere.
    public var apiKey: String?
    /// Seconds; nil = no limit.
    public var connectTimeoutS: Double? = 10
    public var firstTokenTimeoutS: Double?
    public var idleTimeoutS: Double?
    public var totalTimeoutS: Double?
    /// Closed-loop cap on requests in flight (nil: open loop). Time waiting for a slot shows as
    /// dispatch lag.
    public var maxConcurrency: Int?
    /// The connection pool: at most this many requests in flight, each on a kept-alive
    /// connection that the next request reuses. An open-loop request due while all are busy
    /// waits for one, and the wait counts as dispatch lag (the run is then invalid, its reason
    /// naming the pool), instead of opening connections without bound until the client's ports
    /// and CPU run out. Default: 4,096, or the descriptor limit less 64 when that is lower (our
    /// choice: far above a benchmark's concurrency at 10k req/s, about 60).
    public var maxConnections = EndpointOptions.defaultMaxConnections

    public static var defaultMaxConnections: Int { FileIO.connectionLimit() }

    /// How many requests may be in flight now (the pool, and the closed loop's cap).
    var inflightCap: Int { min(maxConnections, maxConcurrency ?? .max) }
    /// After Ctrl-C: seconds to let requests in flight finish before aborting them.
    public var drainS = 30.0
    /// Use HTTP/2 where the server offers it (h2 over TLS, or h2c with prior knowledge).
    public var http2 = false
    /// TLS: a CA bundle (PEM) to verify the server with, instead of the system's.
    public var caCertPath: String?
    /// TLS: skip certificate and host-name verification.
    public var insecureTLS = false
    /// Validity thresholds: dispatch-lag p99 (ms) and achieved/offered rate shortfall.
    public var maxLagMs = 5.0
    public var maxRateShortfall = 0.02
    /// Seconds between the runner's start and the first intended send (connection set-up).
    public var startDelayS = 0.05
    public var promptSeed: UInt64 = 0
    /// With text prompts: a HF tokenizer.json so each prompt is exactly its token count.
    public var tokenizer: BPETokenizer?
    /// Vocabulary size token-id prompts draw from (the tokenizer's when one is given).
    public var vocabSize = PromptBuilder.defaultVocabSize
    /// Prometheus metrics scraped during the run (`MetricsScraper`), nil: none.
    public var serverMetricsURL: String?
    public var serverMetricsIntervalS = MetricsScraper.defaultIntervalS
    /// GPU telemetry during the run, nil: none.
    public var gpuMetrics: GPUTelemetry?
    /// A segment of a multi-host run: the wall-clock instant (Unix seconds) its time axis starts
    /// at, shared by every segment (`startDelayS` is then what is left until it).
    public var startAtUnixS: Double?
    /// The longest SSE line or event, in bytes (4 MiB, our choice: a token delta is well under
    /// 1 KiB and a final event holding a 100K-token text about 0.5 MiB). A longer one is recorded
    /// `oversized_event` and its connection dropped, so a hostile server cannot make the client
    /// buffer without bound or stall the sending thread.
    public var maxEventBytes = 4 << 20
    /// The largest non-streamed reply, in bytes (64 MiB, our choice: a 100K-token completion
    /// with logprobs fits). A larger one is recorded `oversized_response`. Error bodies keep
    /// only their first `errorBodyBytes`.
    public var maxBodyBytes = 64 << 20
    /// The HTTP client (`HTTPClientKind`): auto picks the native HTTP/1.1 client where it can.
    public var httpClient = HTTPClientKind.auto
    /// How much of an error reply's body is kept for its record's message.
    public static let errorBodyBytes = 64 << 10

    public init(url: String, request: OpenAIRequestOptions) {
        self.url = url
        self.request = request
    }
}

public enum PromptFormat: String, Sendable, CaseIterable {
    /// Token-id arrays (vLLM accepts them; exact prompt lengths).
    case tokens
    /// Deterministic text of about the requested length (one common word ≈ one token).
    case text

    /// The `--prompt-format` flag's value; `auto` (or anything else): token ids for vLLM's
    /// completions API (exact prompt lengths), text for every other server.
    public static func resolved(_ flag: String, serverKind: ServerKind, api: APIKind) -> PromptFormat {
        PromptFormat(rawValue: flag) ?? (serverKind == .vllm && api == .completions ? .tokens : .text)
    }
}

/// What the runner measured about itself, for the validity verdict.
public struct EndpointOutcome: Sendable {
    public var endS: Double
    public var dispatched: Int
    public var lagP50Ms: Double
    public var lagP99Ms: Double
    public var lagMaxMs: Double
    public var offeredRate: Double
    public var achievedRate: Double
    /// Share of one core the runner's thread used.
    public var cpuShare: Double
    public var stopped: Bool
    public var invalidReasons: [String]
    /// Requests per negotiated HTTP version ("1.1", "2", ...; failed connections are not counted).
    public var httpVersions: [String: Int] = [:]
    /// The HTTP client that carried the requests: "native" or "libcurl".
    public var httpClient = "libcurl"
    /// Involuntary context switches of the runner's thread during the run.
    public var preemptions = 0
    /// Open loop: requests that were due while every pooled connection was busy, and the pool's size.
    public var poolWaits = 0
    public var maxConnections = 0
    /// With `serverMetricsURL`: what the scrapes during the run said.
    public var serverMetrics: ServerMetricsDigest?
    /// With `gpuMetrics`: what the GPU samples said.
    public var gpuMetrics: ServerMetricsDigest?
    /// What the run could not sample, said once (no nvidia-smi here, …).
    public var telemetryNotes: [String] = []

    /// Added to a dispatch-lag reason: why the client may have been late.
    public var lagNote: String {
        var notes: [String] = []
        if poolWaits > 0 {
            notes.append("\(poolWaits) requests waited for one of the \(maxConnections) pooled connections (--max-connections): the server holds more requests than the pool")
        }
        if preemptions > 0 { notes.append("the client thread was preempted \(preemptions) times: does another process share its core?") }
        return notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")"
    }
}

/// The open-loop load generator: sends every workload request at its intended time (absolute
/// deadlines on the monotonic clock, woken by a timerfd with a short spin tail), streams the
/// responses through libcurl's multi interface driven by epoll (CURLMOPT_SOCKETFUNCTION), and
/// turns each into a run record. Latencies count from the intended send time. One thread does it
/// all, so callbacks need no locks.
public final class EndpointRunner {
    let options: EndpointOptions
    let requests: [WorkloadRequest]
    /// When each request is due: at its arrival, or (later session turns) a think time after
    /// the previous turn ended.
    var schedule: ArrivalSchedule
    /// Due times of the first and last request sent (the offered rate's span).
    var firstDueS = Double.infinity, lastDueS = -Double.infinity
    let fullURL: String

    /// The multi handles transfers are spread over (`CurlShard`), made as the load needs them.
    var shards: [CurlShard] = []
    var epfd: Int32 = -1
    var timerfd: Int32 = -1
    /// The deadline the timerfd is armed for (it stays armed once it has fired; the loop re-arms
    /// with a new deadline before sleeping again).
    var armedDeadline = -1.0
    /// Sockets watched in epoll, with the shard each belongs to.
    var watched: [Int32: (mask: UInt32, shard: CurlShard)] = [:]
    var inflight: [ObjectIdentifier: Transfer] = [:]
    var t0 = 0.0
    /// Send lag of every finished request: when it went on the wire minus when it was meant to.
    var lags: [Double] = []
    var sentMin = Double.infinity, sentMax = -Double.infinity
    static let timeoutScanS = 0.01
    /// Ready sockets handled per wake-up before due sends are looked at again.
    static let epollBatch = 64
    /// Finished transfers' easy handles kept for reuse (reset, options set anew), at most this many.
    static let idleEasyLimit = 1024
    var idleEasy: [UnsafeMutableRawPointer] = []
    /// The native HTTP/1.1 client's connections, when it carries the run (`HTTPClientKind`).
    var native: HTTP1Pool?
    /// Why the native client cannot reach the server (an unresolvable host): each request fails so.
    var nativeUnreachable: String?
    /// The last stretch before a send is spun rather than slept (20 µs, our choice: with 1 µs
    /// timer slack the wire-send lag p50 measured 13–26 µs from 1k to 12k req/s; the goal is
    /// p99 ≤ 1 ms, and spinning 150 µs cost 44% of a core at 5k req/s).
    static let spinS = 20e-6
    var spinSeconds = 0.0
    var httpVersions: [String: Int] = [:]
    var nextTimeoutScan = 0.0
    var emit: ((RequestRecord) -> Void)?
    /// Closed loop: when the last slot freed (a request queued behind the cap counts from here).
    var inflightAtCapSince: Double?
    /// Open loop: requests that were due while every pooled connection was busy.
    var poolWaits = 0
    private var lastPoolWait = -1

    func notePoolWait(_ index: Int) {
        guard options.maxConcurrency == nil, index != lastPoolWait else { return }
        lastPoolWait = index
        poolWaits += 1
    }

    public init(options: EndpointOptions, requests: [WorkloadRequest]) {
        self.options = options
        self.requests = requests
        schedule = ArrivalSchedule(requests)
        var u = options.url
        while u.hasSuffix("/") { u.removeLast() }
        fullURL = u.hasSuffix("/completions") ? u : u + OpenAIRequest.path(options.request.api)
    }

    /// libcurl before 7.89.0 breaks a reused HTTP/2 prior-knowledge (h2c) connection: every
    /// request after the first fails with "Error in the HTTP2 framing layer" (curl issue #10634,
    /// fixed by curl PR #10643; Debian 12 ships 7.88.1). With such a libcurl each h2c request
    /// gets its own connection, which is still HTTP/2 on the wire.
    public static let h2cReuseBroken: Bool = {
        guard let info = curl_version_info(CURLVERSION_FIRST) else { return false }
        return info.pointee.version_num < 0x07_59_00
    }()

    /// Monotonic seconds.
    @inline(__always)
    static func clock() -> Double { monotonicSeconds() }

    /// The run's time origin on the monotonic clock (records' times count from it); set by `run`.
    public var originS: Double { t0 }

    /// Involuntary context switches of the calling thread: each is a moment another task took
    /// this thread's core, which shows up as send lag when a send was due.
    static func threadPreemptions() -> Int {
        accel_thread_involuntary_switches()
    }

    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs the whole workload. `onRecord` gets each request's record as it finishes (on this
    /// thread); `shouldStop` is polled (Ctrl-C): dispatching stops, requests in flight get
    /// `drainS` to finish, then are aborted.
    public func run(onRecord: @escaping (RequestRecord) -> Void, shouldStop: @escaping () -> Bool) throws(BenchError) -> EndpointOutcome {
        emit = onRecord
        signal(SIGPIPE, SIG_IGN)
        guard curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK else { throw BenchError.io(options.url, "libcurl initialisation failed") }
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        timerfd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        guard epfd >= 0, timerfd >= 0 else { throw BenchError.io(options.url, "epoll/timerfd: \(FileIO.errnoText())") }
        defer {
            for e in idleEasy { curl_easy_cleanup(e) }
            idleEasy.removeAll()
            shards.removeAll()
            native = nil
            close(epfd)
            close(timerfd)
        }
        var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(fd: timerfd))
        epoll_ctl(epfd, EPOLL_CTL_ADD, timerfd, &ev)
        try setUpClient()

        t0 = EndpointRunner.clock() + options.startDelayS
        let cpu0 = EndpointRunner.threadCPU()
        let oldSlack = accel_set_timer_slack_ns(1000)
        defer { _ = accel_set_timer_slack_ns(oldSlack > 0 ? oldSlack : 50_000) }
        let preempt0 = EndpointRunner.threadPreemptions()
        let wall0 = EndpointRunner.clock()
        var dispatched = 0
        var stopped = false
        var drainDeadline: Double?
        var events = [epoll_event](repeating: epoll_event(), count: EndpointRunner.epollBatch)
        lags.reserveCapacity(requests.count)
        while true {
            if !stopped && shouldStop() {
                stopped = true
                drainDeadline = EndpointRunner.clock() + options.drainS
            }
            var now = EndpointRunner.clock()
            // Dispatch every request that is due (and allowed by the concurrency cap).
            while !stopped, let (i, due) = schedule.peek(), t0 + due <= now {
                guard inflight.count < options.inflightCap else {
                    notePoolWait(i)
                    break
                }
                schedule.pop()
                start(requests[i], index: i, dueS: due, now: now)
                dispatched += 1
                now = EndpointRunner.clock()
            }
            // Nothing in flight and nothing released: every request was sent (a held-back turn
            // is released by its previous turn's end, which needs that turn in flight).
            if inflight.isEmpty && (stopped || schedule.peek() == nil) { break }
            if let d = drainDeadline, now >= d {
                for t in Array(inflight.values).sorted(by: { $0.request.id < $1.request.id }) { abort(t, kind: "aborted", message: "run interrupted") }
                break
            }
            checkTimeouts(now: now)
            // Next wake-up: the next dispatch, curl's timer, a timeout check, the drain end.
            var wake = Double.infinity
            if !stopped, let (_, due) = schedule.peek(), inflight.count < options.inflightCap {
                wake = t0 + due
            }
            if let c = curlDeadline { wake = min(wake, c) }
            if !inflight.isEmpty && scansTimeouts { wake = min(wake, max(now, nextTimeoutScan)) }
            if let d = drainDeadline { wake = min(wake, d) }
            wake = min(wake, now + 0.1)  // poll shouldStop at least every 100 ms
            try wait(until: wake, now: now, events: &events)
            let after = EndpointRunner.clock()
            for shard in shards { shard.fireTimerIfDue(now: after) }
            drainCompleted()
        }
        let wall = EndpointRunner.clock() - wall0
        // Busy share of a core, spinning excluded (it only fills time that would be idle).
        let cpuShare = wall > 0 ? max(0, EndpointRunner.threadCPU() - cpu0 - spinSeconds) / wall : 0
        return outcome(dispatched: dispatched, stopped: stopped, cpuShare: cpuShare, preemptions: EndpointRunner.threadPreemptions() - preempt0)
    }

    /// Waits until `wake`: spins the last stretch (even with 1 ns timer slack, a timerfd wake-up
    /// is some µs late), else sleeps in epoll and hands each ready socket to libcurl.
    private func wait(until wake: Double, now: Double,
                      events: inout [epoll_event]) throws(BenchError) {
        if wake - now < EndpointRunner.spinS {
            let s0 = EndpointRunner.clock()
            var t = s0
            while t < wake { t = EndpointRunner.clock() }
            spinSeconds += t - s0
        } else {
            armTimer(at: wake - EndpointRunner.spinS)
            let n = events.withUnsafeMutableBufferPointer { epoll_wait(epfd, $0.baseAddress, Int32($0.count), -1) }
            if n < 0 && errno != EINTR { throw BenchError.io(options.url, "epoll_wait: \(FileIO.errnoText())") }
            var running: Int32 = 0
            for i in 0..<Int(max(n, 0)) {
                let fd = events[i].data.fd
                if fd == timerfd {
                    var buf: UInt64 = 0
                    _ = read(timerfd, &buf, 8)
                    armedDeadline = -1  // fired: the next sleep arms it again
                    continue
                }
                var mask: Int32 = 0
                let e = events[i].events
                if e & EPOLLIN.rawValue != 0 { mask |= CURL_CSELECT_IN }
                if e & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
                if e & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { mask |= CURL_CSELECT_ERR }
                if let pool = native {
                    if let c = pool.byFD[fd] { handleNative(c, events: events[i].events, pool: pool) }
                    continue
                }
                guard let shard = watched[fd]?.shard else { continue }
                curl_multi_socket_action(shard.multi, curl_socket_t(fd), mask, &running)
            }
        }
    }

    func armTimer(at deadline: Double) {
        // The loop re-arms for the same send or curl deadline on many wake-ups; one syscall does.
        if deadline == armedDeadline { return }
        armedDeadline = deadline
        var spec = itimerspec()
        let d = max(deadline, 1e-6)
        spec.it_value.tv_sec = Int(d)
        spec.it_value.tv_nsec = Int((d - Double(Int(d))) * 1e9)
        timerfd_settime(timerfd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
    }

    func outcome(dispatched: Int, stopped: Bool, cpuShare: Double, preemptions: Int) -> EndpointOutcome {
        let sorted = lags.sorted()
        // Nearest-rank percentile, milliseconds.
        func pct(_ q: Double) -> Double { sorted.isEmpty ? 0 : nearestRank(sorted, q) * 1000 }
        let endS = EndpointRunner.clock() - t0
        let span = lastDueS - firstDueS
        let offered = dispatched > 1 && span > 0 ? Double(dispatched - 1) / span : 0
        let sentSpan = sentMax - sentMin
        let achieved = lags.count > 1 && sentSpan > 0 ? Double(lags.count - 1) / sentSpan : 0
        // The dispatch-lag check is made on the records, where summary.json's p99 comes from
        // (`ResultsWriter.finish(lagLimit:)`; `lagNote` is its hint); these are the rest.
        var reasons: [String] = []
        let p99 = pct(0.99)
        // A closed loop (--max-concurrency, or sessions' later turns, due when the previous
        // answer ends) has no offered rate to meet.
        if options.maxConcurrency == nil, !schedule.hasSessions, offered > 0, achieved < offered * (1 - options.maxRateShortfall) {
            reasons.append(String(format: "achieved send rate %.3f req/s is more than %.0f%% below the offered %.3f req/s", achieved, options.maxRateShortfall * 100, offered))
        }
        if cpuShare > 0.95 { reasons.append(String(format: "the client's thread used %.0f%% of a core (saturated)", cpuShare * 100)) }
        return EndpointOutcome(endS: endS, dispatched: dispatched, lagP50Ms: pct(0.5), lagP99Ms: p99, lagMaxMs: (sorted.last ?? 0) * 1000,
                               offeredRate: offered, achievedRate: achieved, cpuShare: cpuShare, stopped: stopped, invalidReasons: reasons,
                               httpVersions: httpVersions, httpClient: native != nil || nativeUnreachable != nil ? "native" : "libcurl",
                               preemptions: preemptions, poolWaits: poolWaits, maxConnections: options.maxConnections)
    }

    // MARK: transfers

    func start(_ r: WorkloadRequest, index: Int, dueS: Double, now: Double) {
        firstDueS = min(firstDueS, dueS)
        lastDueS = max(lastDueS, dueS)
        var intended = t0 + dueS
        var queued: Double?
        if options.maxConcurrency != nil, inflightAtCapSince.map({ $0 > intended }) ?? false {
            // Closed loop: the request waited for a slot. Its latencies count from when the slot
            // became free (as closed-loop tools measure); the wait is recorded as queued_s.
            queued = inflightAtCapSince! - intended
            intended = inflightAtCapSince!
        }
        let prompt: PromptPayload
        if options.promptFormat == .text, let tok = options.tokenizer {
            prompt = .text(PromptBuilder.text(for: r, seed: options.promptSeed, tokenizer: tok))
        } else {
            prompt = PromptBuilder.payload(for: r, format: options.promptFormat, seed: options.promptSeed,
                                           vocab: options.tokenizer?.vocabSize ?? options.vocabSize)
        }
        let body = OpenAIRequest.body(options.request, prompt: prompt, maxTokens: r.outputTokens, slo: r.slo.isEmpty ? nil : r.slo,
                                      className: r.className)
        // libcurl reads the body from the transfer's own copy; the native client copies it into
        // the request's bytes once, so its transfer keeps none.
        let t = Transfer(request: r, api: options.request.api, intendedAbs: intended, dispatchedAbs: now,
                         body: native == nil ? body : [], runner: self)
        t.queuedS = queued
        if let why = nativeUnreachable {
            finish(t, kind: "connection", message: why)
            return
        }
        if let pool = native {
            startNative(t, body: body, pool: pool)
            return
        }
        guard let easy = idleEasy.popLast() ?? curl_easy_init() else {
            finish(t, kind: "client_error", message: "curl_easy_init failed")
            return
        }
        t.easy = easy
        accel_easy_setopt_str(easy, CURLOPT_URL, fullURL)
        accel_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        accel_easy_setopt_long(easy, CURLOPT_POST, 1)
        // The body is handed over whole (POSTFIELDS, not copied: the transfer owns it), so that
        // libcurl sends head and body in one syscall; the wire-send time is when libcurl calls the
        // pre-request callback, with the connection ready and the request about to go out.
        accel_easy_setopt_long(easy, CURLOPT_POSTFIELDSIZE_LARGE, t.bodyCount)
        accel_easy_setopt_ptr(easy, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(t.bodyPointer))
        accel_easy_setopt_prereq_cb(easy, endpointPrereqCallback)
        accel_easy_setopt_long(easy, CURLOPT_TCP_NODELAY, 1)
        if let c = options.connectTimeoutS { accel_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(c * 1000)) }
        if let total = options.totalTimeoutS { accel_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(total * 1000)) }
        if options.http2 {
            accel_easy_setopt_long(easy, CURLOPT_HTTP_VERSION, fullURL.hasPrefix("https") ? Int(CURL_HTTP_VERSION_2TLS) : Int(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE))
            if EndpointRunner.h2cReuseBroken && !fullURL.hasPrefix("https") {
                accel_easy_setopt_long(easy, CURLOPT_FRESH_CONNECT, 1)
                accel_easy_setopt_long(easy, CURLOPT_FORBID_REUSE, 1)
            }
        }
        if let ca = options.caCertPath { accel_easy_setopt_str(easy, CURLOPT_CAINFO, ca) }
        if options.insecureTLS {
            accel_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            accel_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        list = curl_slist_append(list, "Content-Type: application/json")
        list = curl_slist_append(list, "Accept: text/event-stream")
        list = curl_slist_append(list, "Accept-Encoding: identity")
        list = curl_slist_append(list, "Expect:")
        list = curl_slist_append(list, "x-request-id: \(PromptBuilder.uuid(requestID: r.id, seed: options.promptSeed))")
        if let ttft = r.slo.ttftMs { list = curl_slist_append(list, "x-slo-ttft-ms: \(ttft)") }
        if let tbt = r.slo.tbtMs { list = curl_slist_append(list, "x-slo-tpot-ms: \(tbt)") }
        for h in options.requestHeaders { list = curl_slist_append(list, h) }
        t.headers = list
        accel_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        let opaque = Unmanaged.passUnretained(t).toOpaque()
        accel_easy_setopt_data_cb(easy, CURLOPT_WRITEFUNCTION, endpointWriteCallback)
        accel_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, opaque)
        accel_easy_setopt_ptr(easy, CURLOPT_PRIVATE, opaque)
        accel_easy_setopt_ptr(easy, CURLOPT_PREREQDATA, opaque)
        guard let shard = shardForNewTransfer() else {
            finish(t, kind: "client_error", message: "curl_multi_init failed")
            return
        }
        t.shard = shard
        shard.inflight += 1
        inflight[ObjectIdentifier(t)] = t
        if curl_multi_add_handle(shard.multi, easy) != CURLM_OK {
            finish(t, kind: "client_error", message: "curl_multi_add_handle failed")
        }
    }

    /// Data arrived for `t` (inside curl's write callback). Returns false to abort the transfer.
    func onData(_ t: Transfer, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let now = EndpointRunner.clock()
        t.lastByteAbs = now
        if t.status == 0, let easy = t.easy {
            var code = 0
            accel_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
            t.status = code
        }
        if let problem = t.encodingProblem {
            t.failure = ("unsupported_encoding", problem)
            return false
        }
        if t.status >= 300 {
            // An error or a redirect: only an excerpt goes into the record.
            t.raw.append(contentsOf: bytes.prefix(max(0, EndpointOptions.errorBodyBytes - t.raw.count)))
            return true
        }
        if !t.isEventStream {
            guard t.raw.count + bytes.count <= options.maxBodyBytes else {
                t.failure = ("oversized_response", "the reply is longer than --max-body-bytes (\(options.maxBodyBytes) bytes)")
                return false
            }
            t.raw.append(contentsOf: bytes)
            return true
        }
        var ok = true
        t.parser.feed(bytes) { event in
            guard ok else { return }
            switch t.reader.consume(event) {
            case .success(let delta):
                if delta.tokens > 0 {
                    if t.firstTokenAbs == nil { t.firstTokenAbs = now }
                    if t.firstContentAbs == nil && delta.reasoningTokens < delta.tokens { t.firstContentAbs = now }
                    for _ in 0..<delta.tokens { t.tokenTimes.append(now - self.t0) }
                }
            case .failure(let e):
                switch e {
                case .malformed(let m): t.failure = ("malformed_stream", m)
                case .server(let m): t.failure = ("server_error", m)
                }
                ok = false
            }
        }
        if ok && t.parser.oversized {
            t.failure = ("oversized_event", "an SSE line or event is longer than --max-event-bytes (\(options.maxEventBytes) bytes)")
            return false
        }
        return ok
    }

    /// First-token and idle timeouts (curl has only connect and total timeouts). The scan is
    /// O(in flight), so it runs at most every `timeoutScanS` (10 ms, our choice: the timeouts are
    /// seconds long, and 10k streams then cost about 1M checks/s) rather than on every wake-up.
    func checkTimeouts(now: Double) {
        guard scansTimeouts, now >= nextTimeoutScan else { return }
        nextTimeoutScan = now + EndpointRunner.timeoutScanS
        var expired: [(Transfer, String, String?)] = []
        for t in inflight.values {
            if nativeConnectTimedOut(t, now: now) {
                expired.append((t, "timeout_connect", String(format: "no connection to the server within %g s (--connect-timeout)", options.connectTimeoutS ?? 0)))
            } else if let ft = options.firstTokenTimeoutS, t.firstTokenAbs == nil, now - t.dispatchedAbs > ft { expired.append((t, "timeout_first_token", nil)) }
            else if let idle = options.idleTimeoutS, now - t.lastByteAbs > idle { expired.append((t, "timeout_idle", nil)) }
            else if native != nil, let total = options.totalTimeoutS, now - t.dispatchedAbs > total {
                expired.append((t, "timeout_total", String(format: "the request took longer than %g s (--timeout)", total)))
            }
        }
        for (t, kind, m) in expired.sorted(by: { $0.0.request.id < $1.0.request.id }) { abort(t, kind: kind, message: m) }
    }

    /// Whether the runner scans requests in flight for timeouts (libcurl keeps its connect and
    /// total timeouts itself; the native client and the first-token and idle ones need the scan).
    var scansTimeouts: Bool {
        options.firstTokenTimeoutS != nil || options.idleTimeoutS != nil
            || (native != nil && (options.connectTimeoutS != nil || options.totalTimeoutS != nil))
    }

    /// Picks the HTTP client (`HTTPClientKind`) and prepares it: the native client resolves the
    /// host once; libcurl gets its first multi handle.
    func setUpClient() throws(BenchError) {
        let problem = HTTP1Endpoint.problem(options, url: fullURL)
        switch (options.httpClient, problem) {
        case (.native, let why?): throw .usage("--http-client native: \(why)")
        case (.curl, _), (.auto, _?): break
        case (.native, nil), (.auto, nil):
            switch HTTP1Endpoint.resolve(fullURL) {
            case .success(let e): native = HTTP1Pool(endpoint: e, userHeaders: options.requestHeaders)
            case .failure(let m): nativeUnreachable = m.message; native = nil
            }
            return
        }
        guard shardForNewTransfer() != nil else { throw BenchError.io(options.url, "curl_multi_init failed") }
    }

    func abort(_ t: Transfer, kind: String, message: String?) {
        if let easy = t.easy, let shard = t.shard { curl_multi_remove_handle(shard.multi, easy) }
        abortNative(t)
        finish(t, kind: kind, message: message)
    }

    /// Collects transfers curl has finished.
    func drainCompleted() {
        for shard in shards { drainCompleted(shard) }
    }

    func drainCompleted(_ shard: CurlShard) {
        var left: Int32 = 0
        while let msg = curl_multi_info_read(shard.multi, &left) {
            guard msg.pointee.msg == CURLMSG_DONE, let easy = msg.pointee.easy_handle else { continue }
            let result = msg.pointee.data.result
            var priv: UnsafeMutableRawPointer?
            accel_easy_getinfo_ptr(easy, CURLINFO_PRIVATE, &priv)
            curl_multi_remove_handle(shard.multi, easy)
            guard let priv else { continue }
            let t = Unmanaged<Transfer>.fromOpaque(priv).takeUnretainedValue()
            if t.status == 0 {
                var code = 0
                accel_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
                t.status = code
            }
            var transportError: (kind: String, message: String)?
            if result != CURLE_OK {
                let kind: String
                switch result {
                case CURLE_OPERATION_TIMEDOUT: kind = t.status == 0 ? "timeout_connect" : "timeout_total"
                case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST: kind = "connection"
                case CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING, CURLE_SEND_ERROR: kind = "disconnected"
                default: kind = "transport"
                }
                transportError = (kind, String(cString: curl_easy_strerror(result)))
            }
            complete(t, transportError: transportError)
        }
    }

    /// Turns a finished exchange into its record: the first failure seen, else the transport's
    /// error, else what the status and body say.
    func complete(_ t: Transfer, transportError: (kind: String, message: String)?) {
        if let f = t.failure {
            finish(t, kind: f.kind, message: f.message)
        } else if let e = transportError {
            finish(t, kind: e.kind, message: e.message)
        } else if (300..<400).contains(t.status) {
            finish(t, kind: "http_\(t.status)", message: t.redirectMessage(url: fullURL))
        } else if t.status >= 400 {
            finish(t, kind: "http_\(t.status)", message: String(decoding: t.raw.prefix(512), as: UTF8.self))
        } else if t.isEventStream {
            t.parser.finish { event in _ = t.reader.consume(event) }
            if t.reader.sawDone || t.reader.completionTokens != nil {
                finish(t, kind: nil, message: nil)
            } else {
                finish(t, kind: "incomplete_stream", message: "the stream ended without [DONE]")
            }
        } else {
            finish(t, kind: nil, message: nil)
        }
    }

    /// Writes `t`'s record and releases its handle. `kind` nil = ok.
    func finish(_ t: Transfer, kind: String?, message: String?) {
        let done = EndpointRunner.clock()
        if let cap = options.maxConcurrency, inflight.count >= cap { inflightAtCapSince = done }
        inflight[ObjectIdentifier(t)] = nil
        t.shard?.inflight -= 1
        t.shard = nil
        var outputTokens = t.tokenTimes.count
        var source = t.reader.countSource
        var promptTokens = t.request.promptTokens
        if !t.isEventStream, kind == nil {
            switch OpenAIResponse.parse(t.raw, api: options.request.api) {
            case .success(let r):
                outputTokens = r.completionTokens ?? 0
                source = r.completionTokens != nil ? .serverUsage : .clientEstimate
                if let p = r.promptTokens { promptTokens = p }
                // A non-streamed response has every token at once, at completion.
                t.tokenTimes = [Double](repeating: done - t0, count: outputTokens)
                if outputTokens > 0 { t.firstTokenAbs = done }
            case .failure(let e):
                t.failure = ("malformed_response", "\(e)")
            }
        } else {
            if let c = t.reader.completionTokens, kind == nil { outputTokens = c }
            if let p = t.reader.promptTokens { promptTokens = p }
        }
        let failure = kind ?? t.failure?.kind
        let sent = t.wireSentAbs ?? t.dispatchedAbs
        if let easy = t.easy {
            var v = 0
            accel_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &v)
            switch v {
            case Int(CURL_HTTP_VERSION_1_0): httpVersions["1.0", default: 0] += 1
            case Int(CURL_HTTP_VERSION_1_1): httpVersions["1.1", default: 0] += 1
            case Int(CURL_HTTP_VERSION_2_0): httpVersions["2", default: 0] += 1
            case Int(CURL_HTTP_VERSION_3): httpVersions["3", default: 0] += 1
            default: break
            }
        } else if let v = t.head?.version {
            httpVersions[v, default: 0] += 1
        }
        lags.append(max(0, sent - t.intendedAbs))
        sentMin = min(sentMin, sent)
        sentMax = max(sentMax, sent)
        var record = RequestRecord(id: t.request.id, className: t.request.className, intendedS: t.intendedAbs - t0,
                                   sentS: sent - t0, firstTokenS: t.firstTokenAbs.map { $0 - t0 }, tokenTimesS: t.tokenTimes,
                                   doneS: done - t0, status: failure ?? "ok", error: failure == nil ? nil : (message ?? t.failure?.message),
                                   promptTokens: promptTokens, outputTokens: outputTokens, tokenCountSource: source,
                                   slo: t.request.slo, metSLO: false)
        record.queuedS = t.queuedS
        if t.isEventStream {
            // The server's own split when it reports one, else the streamed reasoning chunks.
            let reasoning = t.reader.usageReasoningTokens ?? t.reader.streamedReasoningTokens
            record.reasoningTokens = min(reasoning, outputTokens)
            if record.reasoningTokens > 0 { record.firstContentS = t.firstContentAbs.map { $0 - t0 } }
        }
        record.session = t.request.session?.id
        record.turn = t.request.session?.turn
        record.metSLO = record.metSLOAsStored
        // The session's next turn is due a think time after this one ended, however it ended.
        if schedule.hasSessions { schedule.ended(id: t.request.id, atS: done - t0) }
        if let easy = t.easy, idleEasy.count < EndpointRunner.idleEasyLimit {
            // Kept for the next request: a fresh handle costs an allocation of libcurl's whole
            // transfer state and its buffers.
            curl_easy_reset(easy)
            idleEasy.append(easy)
            t.easy = nil
        }
        t.release()
        emit?(record)
    }

    // MARK: callbacks from libcurl

    func updateSocket(_ fd: Int32, what: Int32, shard: CurlShard) {
        if what == CURL_POLL_REMOVE {
            if watched.removeValue(forKey: fd) != nil { epoll_ctl(epfd, EPOLL_CTL_DEL, fd, nil) }
            return
        }
        var mask: UInt32 = 0
        if what & CURL_POLL_IN != 0 { mask |= EPOLLIN.rawValue }
        if what & CURL_POLL_OUT != 0 { mask |= EPOLLOUT.rawValue }
        if let w = watched[fd], w.mask == mask, w.shard === shard { return }  // no change: no syscall
        var ev = epoll_event(events: mask, data: epoll_data_t(fd: fd))
        if watched[fd] == nil {
            epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)
        } else {
            epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev)
        }
        watched[fd] = (mask, shard)
    }
}

/// One request in flight.
final class Transfer {
    let request: WorkloadRequest
    let intendedAbs: Double
    let dispatchedAbs: Double
    let bodyPointer: UnsafeMutablePointer<UInt8>
    let bodyCount: Int
    unowned let runner: EndpointRunner
    var easy: UnsafeMutableRawPointer?
    /// The multi handle the transfer is in (nil once finished).
    var shard: CurlShard?
    var headers: UnsafeMutablePointer<curl_slist>?
    var parser: SSEParser
    var reader: OpenAIStreamReader
    var tokenTimes: [Double] = []
    var firstTokenAbs: Double?
    /// The first event that carried an answer (not reasoning) token.
    var firstContentAbs: Double?
    var lastByteAbs: Double
    var status = 0
    /// When libcurl was about to send the request (its pre-request callback; a resend on a fresh
    /// connection keeps the first time).
    var wireSentAbs: Double?
    var raw: [UInt8] = []
    var failure: (kind: String, message: String)?
    var queuedS: Double?
    /// The native client: the connection carrying the request, the request's bytes (kept for a
    /// resend on a fresh connection), the response head, and whether it was resent.
    var conn: HTTP1Connection?
    var nativeWire: [UInt8] = []
    var head: HTTP1Head?
    var retriedOnFreshConnection = false
    /// Whether the response is SSE (we ask for `stream: true`; an error reply is plain JSON).
    /// Decided once, from the response headers, when the first bytes arrive.
    var isEventStream: Bool {
        if let known = eventStream { return known }
        guard status > 0, head != nil || easy != nil else { return status < 400 }
        let sse = status < 400 && responseHeader("content-type").lowercased().hasPrefix("text/event-stream")
        eventStream = sse
        return sse
    }
    var eventStream: Bool?

    /// A response header's value ("" when absent), from whichever client carries the request.
    func responseHeader(_ name: String) -> String {
        if let head { return head.value(name) ?? "" }
        guard let easy else { return "" }
        if name == "content-type" { return Transfer.contentType(easy) }
        var h: UnsafeMutablePointer<curl_header>?
        guard curl_easy_header(easy, name, 0, UInt32(CURLH_HEADER), -1, &h) == CURLHE_OK, let h, let v = h.pointee.value else { return "" }
        return String(cString: v)
    }

    init(request: WorkloadRequest, api: APIKind, intendedAbs: Double, dispatchedAbs: Double, body: [UInt8], runner: EndpointRunner) {
        self.request = request
        self.intendedAbs = intendedAbs
        self.dispatchedAbs = dispatchedAbs
        lastByteAbs = dispatchedAbs
        bodyCount = body.count
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, body.count))
        body.withUnsafeBufferPointer { buffer.initialize(from: $0.baseAddress!, count: body.count) }
        bodyPointer = buffer
        reader = OpenAIStreamReader(api: api)
        parser = SSEParser(maxEventBytes: runner.options.maxEventBytes)
        self.runner = runner
    }

    /// A reply in a content coding the client did not ask for (it sends `Accept-Encoding:
    /// identity`): its bytes cannot be read as they arrive, so the request is a fault of its own
    /// rather than a stream that "ended without [DONE]". Nil when the reply is readable.
    lazy var encodingProblem: String? = Transfer.encodingProblem(responseHeader("content-encoding"))

    static func encodingProblem(_ value: String) -> String? {
        if value.isEmpty { return nil }
        let coding = value.trimmingCharacters(in: .whitespaces)
        if coding.isEmpty || coding.lowercased() == "identity" { return nil }
        return "the server sent a \(coding)-encoded reply (Content-Encoding: \(coding)) although the request asked for identity; accelbench reads streams uncompressed"
    }

    /// A 3xx reply: libcurl does not follow it (a redirected POST would change method or lose
    /// its body on some servers, and the latency would include a second round trip).
    func redirectMessage(url: String) -> String {
        var target = "an unnamed location"
        if let easy {
            var p: UnsafeMutableRawPointer?
            accel_easy_getinfo_ptr(easy, CURLINFO_REDIRECT_URL, &p)
            if let p { target = String(cString: p.assumingMemoryBound(to: CChar.self)) }
        } else if let location = head?.value("location"), !location.isEmpty {
            // Relative to the request's URL, as libcurl resolves it.
            target = URL(string: location, relativeTo: URL(string: url))?.absoluteString ?? location
        }
        return "the server redirected to \(target); redirects are not followed: give --endpoint the final URL"
    }

    static func contentType(_ easy: UnsafeMutableRawPointer) -> String {
        var p: UnsafeMutableRawPointer?
        accel_easy_getinfo_ptr(easy, CURLINFO_CONTENT_TYPE, &p)
        guard let p else { return "" }
        return String(cString: p.assumingMemoryBound(to: CChar.self)).lowercased()
    }

    func release() {
        if let easy { curl_easy_cleanup(easy) }
        easy = nil
        if let headers { curl_slist_free_all(headers) }
        headers = nil
    }

    deinit {
        release()
        bodyPointer.deallocate()
    }
}

let endpointWriteCallback: accel_data_cb = { ptr, size, nmemb, userdata in
    let n = size * nmemb
    guard let userdata, let ptr else { return n }
    let t = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return t.runner.onData(t, UnsafeRawBufferPointer(start: ptr, count: n)) ? n : 0
}

let endpointPrereqCallback: accel_prereq_cb = { userdata, _, _, _, _ in
    guard let userdata else { return CURL_PREREQFUNC_OK }
    let t = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    if t.wireSentAbs == nil { t.wireSentAbs = EndpointRunner.clock() }
    return CURL_PREREQFUNC_OK
}
