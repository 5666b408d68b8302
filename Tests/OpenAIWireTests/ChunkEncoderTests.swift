import BenchCore
import Foundation
import OpenAIWire
import Testing

private func encoder(_ endpoint: Endpoint, continuous: Bool = false, vocabOffset: Int = 0) -> ChunkEncoder {
    ChunkEncoder(endpoint: endpoint, id: endpoint == .chat ? "chatcmpl-7" : "cmpl-7", created: 1_700_000_000, model: "mock",
                 promptTokens: 5, continuousUsage: continuous, vocabOffset: vocabOffset)
}

@Suite struct ChunkEncoderTests {
    @Test func completionChunkFieldsAndFraming() throws {
        let enc = encoder(.completions)
        var s = Array("stale bytes".utf8)
        enc.content(into: &s, start: 0, count: 2, final: false)
        let o = try sseEvent(s)
        #expect(o["id"] as? String == "cmpl-7")
        #expect(o["object"] as? String == "text_completion")
        #expect(intValue(o["created"]) == 1_700_000_000)
        #expect(o["model"] as? String == "mock")
        let c = try firstChoice(o)
        #expect(intValue(c["index"]) == 0)
        #expect(c["text"] as? String == " the of")
        #expect(isJSONNull(c["logprobs"]))
        #expect(isJSONNull(c["finish_reason"]))
        #expect(isJSONNull(c["stop_reason"]))
        // vLLM's completion chunks carry an explicit null usage.
        #expect(isJSONNull(o["usage"]))
    }

    @Test func finalCompletionChunkHasLengthFinishReason() throws {
        var s: [UInt8] = []
        encoder(.completions).content(into: &s, start: 2, count: 3, final: true)
        let c = try firstChoice(try sseEvent(s))
        #expect(c["text"] as? String == " and to in")
        #expect(c["finish_reason"] as? String == "length")
        #expect(isJSONNull(c["stop_reason"]))
    }

    @Test func chatChunksUseDeltaContentAndOmitUsage() throws {
        let enc = encoder(.chat)
        var s: [UInt8] = []
        enc.content(into: &s, start: 1, count: 2, final: false)
        let o = try sseEvent(s)
        #expect(o["id"] as? String == "chatcmpl-7")
        #expect(o["object"] as? String == "chat.completion.chunk")
        #expect(!o.keys.contains("usage"))
        let c = try firstChoice(o)
        let delta = try #require(c["delta"] as? [String: Any])
        #expect(delta["content"] as? String == " of and")
        #expect(!delta.keys.contains("role"))
        #expect(isJSONNull(c["finish_reason"]))
        #expect(!c.keys.contains("text"))

        enc.content(into: &s, start: 3, count: 1, final: true)
        let last = try firstChoice(try sseEvent(s))
        #expect(last["finish_reason"] as? String == "length")
        #expect(isJSONNull(last["stop_reason"]))
        #expect((last["delta"] as? [String: Any])?["content"] as? String == " to")
    }

    @Test func chatRoleChunkOpensTheStream() throws {
        var s: [UInt8] = []
        encoder(.chat).role(into: &s)
        let o = try sseEvent(s)
        #expect(!o.keys.contains("usage"))
        let delta = try #require(try firstChoice(o)["delta"] as? [String: Any])
        #expect(delta["role"] as? String == "assistant")
        #expect(delta["content"] as? String == "")

        encoder(.chat, continuous: true).role(into: &s)
        let u = try usageNumbers(try sseEvent(s))
        #expect(u.prompt == 5 && u.completion == 0 && u.total == 5)
    }

    @Test func continuousUsageCountsTokensSoFar() throws {
        var s: [UInt8] = []
        encoder(.completions, continuous: true).content(into: &s, start: 4, count: 2, final: false)
        let u = try usageNumbers(try sseEvent(s))
        #expect(u.prompt == 5)
        #expect(u.completion == 6)
        #expect(u.total == 11)

        encoder(.chat, continuous: true).content(into: &s, start: 0, count: 3, final: true)
        let c = try usageNumbers(try sseEvent(s))
        #expect(c.completion == 3 && c.total == 8)
    }

    @Test func usageChunkHasEmptyChoices() throws {
        for endpoint in [Endpoint.completions, .chat] {
            var s: [UInt8] = []
            encoder(endpoint).usage(into: &s, completion: 12)
            let o = try sseEvent(s)
            let choices = try #require(o["choices"] as? [Any])
            #expect(choices.isEmpty)
            let u = try usageNumbers(o)
            #expect(u.prompt == 5 && u.completion == 12 && u.total == 17)
        }
    }

    @Test func vocabOffsetShiftsAndWrapsTheVocabulary() throws {
        var s: [UInt8] = []
        let enc = encoder(.completions, vocabOffset: 30)
        enc.content(into: &s, start: 0, count: 3, final: false)
        #expect(try firstChoice(try sseEvent(s))["text"] as? String == " you were the")
        let body = try foundationObject(enc.body(completion: 3))
        #expect(try firstChoice(body)["text"] as? String == " you were the")
    }

    @Test func nonStreamedCompletionBody() throws {
        let o = try foundationObject(encoder(.completions).body(completion: 3))
        #expect(o["id"] as? String == "cmpl-7")
        #expect(o["object"] as? String == "text_completion")
        #expect(intValue(o["created"]) == 1_700_000_000)
        #expect(o["model"] as? String == "mock")
        let c = try firstChoice(o)
        #expect(c["text"] as? String == " the of and")
        #expect(c["finish_reason"] as? String == "length")
        #expect(isJSONNull(c["logprobs"]) && isJSONNull(c["stop_reason"]))
        let u = try usageNumbers(o)
        #expect(u.prompt == 5 && u.completion == 3 && u.total == 8)

        let empty = try foundationObject(encoder(.completions).body(completion: 0))
        #expect(try firstChoice(empty)["text"] as? String == "")
        #expect(try usageNumbers(empty).completion == 0)
    }

    @Test func nonStreamedChatBodyWithFinishReason() throws {
        let o = try foundationObject(encoder(.chat).body(completion: 2, finishReason: "stop"))
        #expect(o["object"] as? String == "chat.completion")
        let c = try firstChoice(o)
        let message = try #require(c["message"] as? [String: Any])
        #expect(message["role"] as? String == "assistant")
        #expect(message["content"] as? String == " the of")
        #expect(c["finish_reason"] as? String == "stop")
        #expect(!c.keys.contains("text"))
    }

    @Test func chunkHeadEscapesIDAndModel() throws {
        let enc = ChunkEncoder(endpoint: .completions, id: #"cmpl-"q"\x"#, created: 0, model: "modèle/\u{1}", promptTokens: 1,
                               continuousUsage: false)
        let head = String(decoding: enc.chunkHead, as: UTF8.self)
        #expect(head.hasPrefix(#"{"id":"#))
        #expect(head.hasSuffix(#","choices":["#))
        var s: [UInt8] = []
        enc.usage(into: &s, completion: 0)
        let o = try sseEvent(s)
        #expect(o["id"] as? String == #"cmpl-"q"\x"#)
        #expect(o["model"] as? String == "modèle/\u{1}")
        #expect(intValue(o["created"]) == 0)
    }
}

@Suite struct VocabularyTests {
    @Test func fixedVocabularyWithLeadingSpaces() {
        #expect(Vocabulary.words.count == 32)
        #expect(Vocabulary.tokens.count == 32)
        #expect(Vocabulary.tokens[0] == Array(" the".utf8))
        #expect(Vocabulary.text(count: 0) == "")
        #expect(Vocabulary.text(count: 3) == " the of and")
        let wrapped = Vocabulary.text(count: 33)
        #expect(wrapped.split(separator: " ").count == 33)
        #expect(wrapped.hasSuffix(" were the"))
        var out = Array("x".utf8)
        Vocabulary.append(31..<33, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "x were the")
    }
}
