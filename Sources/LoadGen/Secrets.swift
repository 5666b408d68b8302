import BenchCore
import Foundation

/// What an endpoint run must never write: the API key, credential-looking header values and the
/// URL's password. Servers echo them (a 401 body, an SSE error event), so every text a run
/// records from the server goes through `redact`, and results name the URL without its
/// credentials.
extension EndpointOptions {
    /// Replaces a secret wherever it appears in text the run writes.
    public static let redactedMark = "[REDACTED]"

    /// Header names whose values are credentials (compared lowercased): exact names, and any
    /// name containing one of `credentialNameParts`. Our choice, after the headers OpenAI-style
    /// servers and proxies use.
    static let credentialNames: Set<String> = ["authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"]
    static let credentialNameParts = ["token", "secret", "key", "auth", "password"]

    /// The headers every request carries: `headers`, then `Authorization: Bearer <apiKey>`
    /// unless a header already sets Authorization (an explicit `--header` wins over the key
    /// from the environment, so a request never carries two).
    public var requestHeaders: [String] {
        let setsAuthorization = headers.contains { EndpointOptions.headerName($0) == "authorization" }
        guard let apiKey, !setsAuthorization else { return headers }
        return headers + ["Authorization: Bearer \(apiKey)"]
    }

    static func headerName(_ header: String) -> String {
        String(header.prefix { $0 != ":" }).trimmingCharacters(in: .whitespaces).lowercased()
    }

    static func isCredential(headerName name: String) -> Bool {
        credentialNames.contains(name) || credentialNameParts.contains { name.contains($0) }
    }

    /// Every configured secret, longest first (so a secret that contains another is replaced whole).
    public var secrets: [String] {
        var out: [String] = []
        if let apiKey, !apiKey.isEmpty { out.append(apiKey) }
        for h in headers where EndpointOptions.isCredential(headerName: EndpointOptions.headerName(h)) {
            guard let colon = h.firstIndex(of: ":") else { continue }
            let value = h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { continue }
            out.append(value)
            // "Bearer XYZ", "Basic XYZ": the credential alone too.
            if let last = value.split(separator: " ").last, last.count >= 8, String(last) != value { out.append(String(last)) }
        }
        if let password = URLComponents(string: url)?.password, !password.isEmpty {
            out.append(password)
            if let decoded = password.removingPercentEncoding, decoded != password { out.append(decoded) }
        }
        return Array(Set(out)).sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// `text` with every configured secret replaced by `redactedMark`.
    public func redact(_ text: String) -> String { EndpointOptions.redact(text, secrets: secrets) }

    /// `text` with each of `secrets` (longest first, as `secrets` orders them) replaced: for a
    /// caller that computed the list once.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var s = text
        for secret in secrets where s.contains(secret) { s = s.replacingOccurrences(of: secret, with: redactedMark) }
        return s
    }

    /// The URL as results name it: user and password replaced by `redactedMark`.
    public var redactedURL: String { EndpointOptions.redactingCredentials(in: url) }

    /// `url` with the user-info part (`user:password@`) replaced by `redactedMark@`.
    public static func redactingCredentials(in url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + redactedMark + String(rest[at...])
    }

    /// Why `url` cannot be an endpoint (nil when it can): an http:// or https:// URL with a host.
    public static func urlProblem(_ url: String) -> String? {
        guard let c = URLComponents(string: url), ["http", "https"].contains(c.scheme?.lowercased() ?? ""),
              let host = c.host, !host.isEmpty else {
            return "'\(redactingCredentials(in: url))' is not an http:// or https:// URL with a host"
        }
        return nil
    }

    /// Why `header` cannot be sent (nil when it can): it must be `Name: value`, and CR or LF would
    /// end it and inject others. The header itself is not quoted (it may hold a credential).
    public static func headerProblem(_ header: String) -> String? {
        if header.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" }) { return "a header may not contain CR or LF" }
        return header.contains(":") ? nil : "must be 'Name: value'"
    }
}
