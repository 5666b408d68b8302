import BenchCore
import CCurlShim
import CLibCurl
import Foundation

/// Scrapes a Prometheus `/metrics` URL on its own thread while a run goes on, so the server's
/// view (running, waiting, KV usage, preemptions, prefix-cache hits) lines up with the client's
/// records on one time axis. The load generator's thread never waits on it: it has its own
/// libcurl handle and connection.
public final class MetricsScraper: @unchecked Sendable {
    public let url: String
    public let intervalS: Double
    /// A scrape that takes longer is recorded as failed. 2 s: our choice (a server busy enough
    /// to take longer is worth a gap in the series, not a stalled scraper).
    public static let timeoutS = 2.0
    /// The default interval, 333 ms: AIPerf's, so the two tools' series compare.
    public static let defaultIntervalS = 0.333
    /// Replies larger than this are failed scrapes (64 MiB: our choice; vLLM's is about 100 KB).
    static let maxReplyBytes = 64 << 20

    private let headers: [String]
    private let secrets: [String]
    private let condition = NSCondition()
    private var stopping = false
    private var thread: Thread?
    private var finished = false
    private var raw: [(tAbs: Double, durationS: Double, result: Result<[PrometheusSample], BenchError>)] = []

    /// - Parameters:
    ///   - headers: sent with every scrape (the run's own, so an authenticated server answers).
    ///   - secrets: redacted from any error text kept.
    public init(url: String, intervalS: Double = MetricsScraper.defaultIntervalS, headers: [String] = [], secrets: [String] = []) {
        self.url = url
        self.intervalS = intervalS
        self.headers = headers
        self.secrets = secrets
    }

    /// The endpoint's `/metrics`: the scheme and authority of `endpoint`, path `/metrics` (the
    /// path every serving engine uses, at the server's root whatever the API prefix).
    public static func defaultURL(endpoint: String) -> String? {
        guard var c = URLComponents(string: endpoint), c.scheme != nil, c.host != nil else { return nil }
        c.path = "/metrics"
        c.query = nil
        c.fragment = nil
        return c.string
    }

    /// Scrapes once now, then every `intervalS` until `stop`.
    public func start() {
        let t = Thread { [self] in loop() }
        t.name = "accelbench-metrics"
        thread = t
        t.start()
    }

    /// Stops the thread after one last scrape, and returns every scrape with times relative to
    /// `originS` (the run's start on the monotonic clock).
    public func stop(originS: Double) -> [ServerMetricsScrape] {
        condition.lock()
        stopping = true
        condition.broadcast()
        while thread != nil && !finished { condition.wait() }
        let taken = raw
        condition.unlock()
        return ServerMetricsScrape.series(taken.map { ($0.tAbs - originS, $0.durationS, $0.result) })
    }

    private func loop() {
        var next = monotonicSeconds()
        while true {
            let t = monotonicSeconds()
            let result = scrapeOnce()
            let d = monotonicSeconds() - t
            condition.lock()
            raw.append((t, d, result))
            if stopping {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            next += intervalS
            // A slow scrape skips the ticks it overran rather than bursting to catch up.
            let now = monotonicSeconds()
            if next < now { next = now + intervalS - (now - next).truncatingRemainder(dividingBy: intervalS) }
            while !stopping && monotonicSeconds() < next {
                _ = condition.wait(until: Date(timeIntervalSinceNow: next - monotonicSeconds()))
            }
            condition.unlock()
        }
    }

    /// One GET of `url`, parsed.
    func scrapeOnce() -> Result<[PrometheusSample], BenchError> {
        guard let easy = curl_easy_init() else { return .failure(.unavailable("libcurl could not make a handle")) }
        defer { curl_easy_cleanup(easy) }
        let body = ReplyBuffer()
        accel_easy_setopt_str(easy, CURLOPT_URL, url)
        accel_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        accel_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(MetricsScraper.timeoutS * 1000))
        accel_easy_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, "identity")
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Accept: text/plain;version=0.0.4")
        for h in headers { list = curl_slist_append(list, h) }
        defer { curl_slist_free_all(list) }
        accel_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))
        let opaque = Unmanaged.passUnretained(body).toOpaque()
        accel_easy_setopt_data_cb(easy, CURLOPT_WRITEFUNCTION, scraperWriteCallback)
        accel_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, opaque)
        let rc = curl_easy_perform(easy)
        let where_ = EndpointOptions.redact(url, secrets: secrets)
        if body.overflowed { return .failure(.data(where_, "the reply is larger than \(MetricsScraper.maxReplyBytes) bytes")) }
        guard rc == CURLE_OK else {
            return .failure(.io(where_, EndpointOptions.redact(String(cString: curl_easy_strerror(rc)), secrets: secrets)))
        }
        var status = 0
        accel_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        guard status == 200 else { return .failure(.io(where_, "HTTP \(status)")) }
        let text = String(decoding: body.bytes, as: UTF8.self)
        return Result(catching: { () throws(BenchError) -> [PrometheusSample] in try PrometheusText.parse(text, source: where_) })
    }
}

/// The body of one scrape, filled by libcurl's write callback.
final class ReplyBuffer {
    var bytes: [UInt8] = []
    var overflowed = false
}

let scraperWriteCallback: accel_data_cb = { ptr, size, nmemb, userdata in
    let n = size * nmemb
    guard let userdata, let ptr else { return n }
    let b = Unmanaged<ReplyBuffer>.fromOpaque(userdata).takeUnretainedValue()
    guard b.bytes.count + n <= MetricsScraper.maxReplyBytes else {
        b.overflowed = true
        return 0
    }
    b.bytes.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}
