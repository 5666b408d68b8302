import BenchCore
import Testing
@testable import LoadGen

@Suite struct SecretsTests {
    func options(url: String = "http://127.0.0.1:8000", headers: [String] = [], key: String? = nil) -> EndpointOptions {
        var o = EndpointOptions(url: url, request: OpenAIRequestOptions(model: "m"))
        o.headers = headers
        o.apiKey = key
        return o
    }

    @Test func anExplicitAuthorizationHeaderWinsOverTheKey() {
        let both = options(headers: ["authorization: Bearer from-flag"], key: "sk-from-env")
        #expect(both.requestHeaders == ["authorization: Bearer from-flag"])
        let keyOnly = options(headers: ["X-Trace: 1"], key: "sk-from-env")
        #expect(keyOnly.requestHeaders == ["X-Trace: 1", "Authorization: Bearer sk-from-env"])
        #expect(options().requestHeaders.isEmpty)
    }

    @Test func everyConfiguredSecretIsRedacted() {
        let o = options(url: "http://alice:s3cret-pw@host:9/v1", headers: ["Authorization: Bearer tok-abcdefgh", "X-Api-Key: k-123", "X-Trace: visible"],
                        key: "sk-env-key")
        let echoed = "401: bad credentials Bearer tok-abcdefgh / tok-abcdefgh, key k-123, env sk-env-key, url pw s3cret-pw, trace visible"
        let r = o.redact(echoed)
        for secret in ["tok-abcdefgh", "k-123", "sk-env-key", "s3cret-pw"] { #expect(!r.contains(secret), "\(secret) in \(r)") }
        #expect(r.contains("visible"))
        #expect(r.contains(EndpointOptions.redactedMark))
        #expect(options().redact(echoed) == echoed)
    }

    @Test func urlCredentialsAreRedacted() {
        #expect(EndpointOptions.redactingCredentials(in: "http://u:p@h:1/v1?q=a@b") == "http://[REDACTED]@h:1/v1?q=a@b")
        #expect(EndpointOptions.redactingCredentials(in: "https://token@h/x") == "https://[REDACTED]@h/x")
        #expect(EndpointOptions.redactingCredentials(in: "http://h:1/v1?x=a@b") == "http://h:1/v1?x=a@b")
        #expect(EndpointOptions.redactingCredentials(in: "not a url") == "not a url")
    }
}
