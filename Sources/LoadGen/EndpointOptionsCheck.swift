extension EndpointOptions {
    /// What makes these options unusable, in the words of the flag that sets each field; nil
    /// when they are fine. The CLI calls it before a run (exit 64), so a library caller gets the
    /// same checks.
    public var problem: String? {
        if let p = EndpointOptions.urlProblem(url) { return "--endpoint: \(p)" }
        if let p = headers.lazy.compactMap(EndpointOptions.headerProblem).first { return "--header: \(p)" }
        if httpClient == .native, let p = HTTP1Endpoint.problem(self, url: url) { return "--http-client native: \(p)" }
        for (flag, v) in [("--connect-timeout", connectTimeoutS), ("--drain", drainS), ("--max-lag", maxLagMs)] {
            if let v, !(v > 0 && v.isFinite) { return "\(flag) must be > 0" }
        }
        for (flag, v) in [("--first-token-timeout", firstTokenTimeoutS), ("--idle-timeout", idleTimeoutS), ("--timeout", totalTimeoutS)] {
            if let v, !(v > 0 && v.isFinite) { return "\(flag) must be ≥ 0 seconds (0: no timeout)" }
        }
        if let m = maxConcurrency, m <= 0 { return "--max-concurrency must be > 0" }
        if maxConnections < 1 { return "--max-connections must be ≥ 1" }
        if vocabSize < 16 { return "--vocab-size must be ≥ 16" }
        if maxEventBytes < 1024 { return "--max-event-bytes must be ≥ 1024" }
        if maxBodyBytes < 1024 { return "--max-body-bytes must be ≥ 1024" }
        return nil
    }
}

extension EndpointOptions {
    /// Printed before an h2c run with a libcurl that cannot reuse its connections.
    public var h2cNote: String? {
        guard http2, !url.hasPrefix("https"), EndpointRunner.h2cReuseBroken else { return nil }
        return "this libcurl cannot reuse HTTP/2 prior-knowledge connections (curl issue #10634, fixed in 7.89.0); each h2c request opens its own connection"
    }
}
