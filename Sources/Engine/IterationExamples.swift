extension IterationLoad {
    /// Typical iterations (decode batches, prefills, a mixed chunk), labelled, for showing a
    /// profile's predicted times (`profile show`).
    public static func examples() -> [(String, IterationLoad)] {
        var out: [(String, IterationLoad)] = []
        for batch in [1, 32, 128] {
            var l = IterationLoad()
            for _ in 0..<batch { l.addDecode(contextTokens: 1024) }
            out.append(("\(batch) decodes, 1k context", l))
        }
        for n in [128, 512, 2048] {
            var l = IterationLoad()
            l.addPrefill(newTokens: n, contextTokens: 0)
            out.append(("prefill \(n) tokens", l))
        }
        var mixed = IterationLoad()
        mixed.addPrefill(newTokens: 448, contextTokens: 2048)
        for _ in 0..<64 { mixed.addDecode(contextTokens: 1024) }
        out.append(("448-token chunk at 2k + 64 decodes", mixed))
        return out
    }
}
