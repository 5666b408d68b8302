import BenchCore
import Foundation
import OpenAIWire
import Testing

@Suite struct RequestValidatorTests {
    @Test func plainCompletionIsAcceptedWithDefaults() throws {
        let r = try accepted(#"{"prompt":"hello there world","max_tokens":16}"#)
        #expect(r.endpoint == .completions)
        #expect(r.model == "mock")
        #expect(r.maxTokens == 16)
        #expect(r.promptTokens == 3)
        #expect(!r.stream && !r.includeUsage && !r.continuousUsage)
        #expect(r.slo.isEmpty)
        #expect(r.sloClass == nil)
        #expect(!r.ignoreEOS)
        #expect(r.minTokens == nil)
        // A null model is treated as absent.
        #expect(try accepted(#"{"model":null,"prompt":"x","max_tokens":1}"#).model == "mock")
    }

    @Test func streamingCompletionWithUsageOptions() throws {
        let r = try accepted(#"{"model":"other","prompt":[1,2,3,4,5],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"#)
        #expect(r.model == "other")
        #expect(r.stream)
        #expect(r.includeUsage)
        #expect(r.continuousUsage)
        #expect(r.promptTokens == 5)
        #expect(r.maxTokens == 8)
    }

    @Test func continuousUsageNeedsIncludeUsageAndServerUsage() throws {
        let alone = try accepted(#"{"prompt":"a","max_tokens":2,"stream":true,"stream_options":{"continuous_usage_stats":true}}"#)
        #expect(!alone.includeUsage && !alone.continuousUsage)
        let body = #"{"prompt":"a","max_tokens":2,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true,"other":1}}"#
        let noUsage = try accepted(body, rules: mockRules { $0.usage = false })
        #expect(!noUsage.includeUsage && !noUsage.continuousUsage)
        let nulls = try accepted(#"{"prompt":"a","max_tokens":2,"stream_options":{"include_usage":null}}"#)
        #expect(!nulls.includeUsage)
    }

    @Test func chatCountsMessageWordsAndPrefersMaxCompletionTokens() throws {
        let body = #"{"model":"mock","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"say three words"},{"type":"image_url","image_url":{"url":"x"}}]},{"role":"assistant","content":null}],"max_tokens":9,"max_completion_tokens":4,"stream":true}"#
        let r = try accepted(body, .chat)
        #expect(r.endpoint == .chat)
        #expect(r.promptTokens == 5)
        #expect(r.maxTokens == 4)
        #expect(r.stream)
        // Completions prefer max_tokens when both are present, but take max_completion_tokens alone.
        #expect(try accepted(#"{"prompt":"a","max_tokens":9,"max_completion_tokens":4}"#).maxTokens == 9)
        #expect(try accepted(#"{"prompt":"a","max_completion_tokens":4}"#).maxTokens == 4)
    }

    @Test func maxTokensDefaultsAndLimits() throws {
        #expect(try accepted(#"{"prompt":"a"}"#, rules: mockRules { $0.defaultMaxTokens = 32 }).maxTokens == 32)
        #expect(try accepted(#"{"prompt":"a","max_tokens":1e3}"#).maxTokens == 1000)
        let limited = mockRules { $0.maxTokensLimit = 100 }
        #expect(try accepted(#"{"prompt":"a","max_tokens":100}"#, rules: limited).maxTokens == 100)
        let e = try #require(rejected(#"{"prompt":"a","max_tokens":101}"#, rules: limited))
        #expect(e.param == "max_tokens")
        #expect(e.message == "'max_tokens' must be at most 100, got 101")
    }

    @Test func badMaxTokensAreRejectedWithTheirParam() throws {
        let cases: [(String, String)] = [
            (#"{"prompt":"a","max_tokens":2.5}"#, "'max_tokens' must be an integer, got 2.5"),
            (#"{"prompt":"a","max_tokens":"10"}"#, #"'max_tokens' must be an integer, got "10""#),
            (#"{"prompt":"a","max_tokens":0}"#, "'max_tokens' must be at least 1, got 0"),
            (#"{"prompt":"a","max_tokens":-3}"#, "'max_tokens' must be at least 1, got -3"),
            (#"{"prompt":"a"}"#, "'max_tokens' is required"),
        ]
        for (body, message) in cases {
            let e = try #require(rejected(body), "accepted \(body)")
            #expect(e.status == 400)
            #expect(e.type == "invalid_request_error")
            #expect(e.param == "max_tokens")
            #expect(e.message == message)
        }
        let chat = try #require(rejected(#"{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":0}"#, .chat))
        #expect(chat.param == "max_completion_tokens")
    }

    @Test func malformedBodiesAreInvalidRequests() throws {
        for body in [#"{"prompt":"#, "", #"{"prompt":"a",}"#, "nope"] {
            let e = try #require(rejected(body), "accepted \(body)")
            #expect(e.status == 400)
            #expect(e.type == "invalid_request_error")
            #expect(e.param == nil)
            #expect(e.message.hasPrefix("request body is not valid JSON: invalid JSON at column"))
        }
        let array = try #require(rejected(#"[{"prompt":"a"}]"#))
        #expect(array.message == "request body must be a JSON object, got array")
        #expect(array.param == nil)
    }

    @Test func modelMustBeAServedString() throws {
        let unknown = try #require(rejected(#"{"model":"gpt-4","prompt":"a","max_tokens":1}"#))
        #expect(unknown.param == "model")
        #expect(unknown.message == "The model `gpt-4` does not exist (served: mock, other).")
        let number = try #require(rejected(#"{"model":5,"prompt":"a","max_tokens":1}"#))
        #expect(number.param == "model")
        #expect(number.message == "'model' must be a string, got number")
    }

    @Test func wrongTypesNameTheField() throws {
        let cases: [(String, String, String)] = [
            (#"{"prompt":"a","max_tokens":1,"stream":"yes"}"#, "stream", "'stream' must be a boolean, got string"),
            (#"{"prompt":"a","max_tokens":1,"stream_options":[]}"#, "stream_options", "'stream_options' must be an object, got array"),
            (#"{"prompt":"a","max_tokens":1,"stream_options":{"include_usage":1}}"#, "stream_options.include_usage",
             "'stream_options.include_usage' must be a boolean, got number"),
            (#"{"prompt":"a","max_tokens":1,"stream_options":{"continuous_usage_stats":"on"}}"#, "stream_options.continuous_usage_stats",
             "'stream_options.continuous_usage_stats' must be a boolean, got string"),
            (#"{"prompt":"a","max_tokens":1,"n":2}"#, "n", "only n = 1 is supported, got 2"),
            (#"{"prompt":"a","max_tokens":1,"ignore_eos":"x"}"#, "ignore_eos", "'ignore_eos' must be a boolean, got string"),
        ]
        for (body, param, message) in cases {
            let e = try #require(rejected(body), "accepted \(body)")
            #expect(e.param == param)
            #expect(e.message == message)
        }
        #expect(try accepted(#"{"prompt":"a","max_tokens":1,"n":1}"#).maxTokens == 1)
    }

    @Test func promptShapes() throws {
        #expect(try accepted(#"{"prompt":["one two three"],"max_tokens":1}"#).promptTokens == 3)
        #expect(try accepted(#"{"prompt":[[7,8,9,10]],"max_tokens":1}"#).promptTokens == 4)
        #expect(try accepted(#"{"prompt":[0],"max_tokens":1}"#).promptTokens == 1)
        let cases: [(String, String)] = [
            (#"{"max_tokens":1}"#, "'prompt' is required"),
            (#"{"prompt":null,"max_tokens":1}"#, "'prompt' is required"),
            (#"{"prompt":"   ","max_tokens":1}"#, "'prompt' must not be empty"),
            (#"{"prompt":[],"max_tokens":1}"#, "'prompt' must not be empty"),
            (#"{"prompt":42,"max_tokens":1}"#, "'prompt' must be a string or an array of token ids, got number"),
            (#"{"prompt":["a","b"],"max_tokens":1}"#, "'prompt' must be a string, an array of token ids, or a batch of one; batched prompts are not supported"),
            (#"{"prompt":[1,-2],"max_tokens":1}"#, "'prompt[1]' is -2, not a token id (an integer ≥ 0)"),
            (#"{"prompt":[1.5],"max_tokens":1}"#, "'prompt[0]' is 1.5, not a token id (an integer ≥ 0)"),
            (#"{"prompt":[-1,-2,5],"max_tokens":1}"#, "'prompt[0]' is -1, not a token id (an integer ≥ 0)"),
        ]
        for (body, message) in cases {
            let e = try #require(rejected(body), "accepted \(body)")
            #expect(e.param == "prompt")
            #expect(e.message == message)
        }
    }

    @Test func chatMessagesErrors() throws {
        let cases: [(String, String, String)] = [
            (#"{"max_tokens":1}"#, "messages", "'messages' is required"),
            (#"{"messages":[],"max_tokens":1}"#, "messages", "'messages' must be a non-empty array"),
            (#"{"messages":"hi","max_tokens":1}"#, "messages", "'messages' must be a non-empty array"),
            (#"{"messages":[1],"max_tokens":1}"#, "messages[0]", "'messages[0]' must be an object"),
            (#"{"messages":[{"role":"user","content":"x"},{"content":"y"}],"max_tokens":1}"#, "messages[1].role", "'messages[1].role' must be a string"),
            (#"{"messages":[{"role":"user","content":3}],"max_tokens":1}"#, "messages[0].content",
             "'messages[0].content' must be a string or an array of parts, got number"),
        ]
        for (body, param, message) in cases {
            let e = try #require(rejected(body, .chat), "accepted \(body)")
            #expect(e.param == param)
            #expect(e.message == message)
        }
    }

    @Test func contextLengthBoundsPromptPlusMaxTokens() throws {
        let ctx = mockRules { $0.contextTokens = 10 }
        // Without max_tokens the request gets what the context leaves.
        #expect(try accepted(#"{"prompt":"a b c d"}"#, rules: ctx).maxTokens == 6)
        #expect(try accepted(#"{"prompt":"a b c d","max_tokens":6}"#, rules: ctx).maxTokens == 6)
        let over = try #require(rejected(#"{"prompt":"a b c d","max_tokens":7}"#, rules: ctx))
        #expect(over.param == "max_tokens")
        #expect(over.message.contains("maximum context length is 10 tokens"))
        #expect(over.message.contains("exceeds"))
        let long = try #require(rejected(#"{"prompt":[1,2,3,4,5,6,7,8,9,10],"max_tokens":1}"#, rules: ctx))
        #expect(long.param == "prompt")
        #expect(long.message == "This model's maximum context length is 10 tokens; the prompt has 10.")
        let chat = try #require(rejected(#"{"messages":[{"role":"user","content":"1 2 3 4 5 6 7 8 9 10 11"}]}"#, .chat, rules: ctx))
        #expect(chat.param == "messages")
        let withDefault = mockRules { $0.contextTokens = 10; $0.defaultMaxTokens = 8 }
        #expect(rejected(#"{"prompt":"a b c d"}"#, rules: withDefault)?.param == "max_tokens")
    }

    @Test func ignoreEOSAndMinTokens() throws {
        let r = try accepted(#"{"prompt":"a","max_tokens":8,"ignore_eos":true,"min_tokens":4}"#)
        #expect(r.ignoreEOS)
        #expect(r.minTokens == 4)
        #expect(try accepted(#"{"prompt":"a","max_tokens":8,"min_tokens":0}"#).minTokens == 0)
        for v in ["9", "1.5", "-1", "\"2\""] {
            let e = try #require(rejected(#"{"prompt":"a","max_tokens":8,"min_tokens":"# + v + "}"), "accepted min_tokens \(v)")
            #expect(e.param == "min_tokens")
            #expect(e.message == "'min_tokens' must be an integer from 0 to max_tokens (8), got \(v)")
        }
    }

    @Test func sloHintsAreParsedOnlyWhenEnabled() throws {
        let body = #"{"prompt":"a","max_tokens":2,"slo":{"ttft_ms":500,"tbt_ms":100,"jct_s":2.5,"class":"chat"}}"#
        let off = try accepted(body)
        #expect(off.slo.isEmpty)
        #expect(off.sloClass == nil)
        #expect(try accepted(#"{"prompt":"a","max_tokens":2,"slo":5}"#).slo.isEmpty)
        let hints = mockRules { $0.sloHints = true }
        let on = try accepted(body, rules: hints)
        #expect(on.slo == SLO(ttftMs: 500, tbtMs: 100, jctS: 2.5))
        #expect(on.sloClass == "chat")
        let tpot = try accepted(#"{"prompt":"a","max_tokens":2,"slo":{"tpot_ms":40,"ttft_ms":null}}"#, rules: hints)
        #expect(tpot.slo == SLO(tbtMs: 40))
    }

    @Test func badSLOHintsAreRejected() throws {
        let hints = mockRules { $0.sloHints = true }
        let long = String(repeating: "c", count: 65)
        let cases: [(String, String, String)] = [
            (#""x""#, "slo", "'slo' must be an object, got string"),
            (#"{"ttft_ms":0}"#, "slo.ttft_ms", "'slo.ttft_ms' must be a positive number, got 0"),
            (#"{"tbt_ms":-5}"#, "slo.tbt_ms", "'slo.tbt_ms' must be a positive number, got -5"),
            (#"{"jct_s":"soon"}"#, "slo.jct_s", #"'slo.jct_s' must be a positive number, got "soon""#),
            (#"{"class":""}"#, "slo.class", "'slo.class' must be a non-empty string of at most 64 bytes"),
            ("{\"class\":\"\(long)\"}", "slo.class", "'slo.class' must be a non-empty string of at most 64 bytes"),
            (#"{"class":3}"#, "slo.class", "'slo.class' must be a non-empty string of at most 64 bytes"),
            (#"{"deadline":1}"#, "slo.deadline", "'slo.deadline' is not a known SLO field (ttft_ms, tbt_ms, jct_s, class)"),
        ]
        for (slo, param, message) in cases {
            let e = try #require(rejected(#"{"prompt":"a","max_tokens":2,"slo":"# + slo + "}", rules: hints), "accepted slo \(slo)")
            #expect(e.param == param)
            #expect(e.message == message)
        }
        #expect(try accepted(#"{"prompt":"a","max_tokens":2,"slo":{"class":"# + "\"\(String(repeating: "c", count: 64))\"}}", rules: hints).sloClass?.utf8.count == 64)
    }

    @Test func promptDigestFollowsThePromptNotItsFormatting() throws {
        let a = try accepted(#"{"prompt":[1,2,3],"max_tokens":1}"#).promptDigest
        let spaced = try accepted(#"{ "max_tokens": 5, "prompt": [1, 2, 3] }"#).promptDigest
        let other = try accepted(#"{"prompt":[1,2,4],"max_tokens":1}"#).promptDigest
        #expect(a == spaced)
        #expect(a != other)
        let c1 = try accepted(#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}"#, .chat).promptDigest
        let c2 = try accepted(#"{"messages":[{"role":"user","content":"ho"}],"max_tokens":1}"#, .chat).promptDigest
        #expect(c1 != c2)
    }

    @Test func countHelpersAndWordCount() throws {
        #expect(RequestValidator.wordCount("") == 0)
        #expect(RequestValidator.wordCount(" \t\n ") == 0)
        #expect(RequestValidator.wordCount(" a  b\tc\nd\re\u{0B}f\u{0C}g ") == 7)
        #expect(RequestValidator.wordCount("héllo wörld") == 2)
        let batchOfOne = try JSONParser.parse(#"[[1,2,3]]"#)
        #expect((try? RequestValidator.countPrompt(batchOfOne).get()) == 3)
        let messages = try JSONParser.parse(#"[{"role":"user","content":"x y"}]"#)
        #expect((try? RequestValidator.countMessages(messages).get()) == 2)
        let notArray = try JSONParser.parse("{}")
        #expect((try? RequestValidator.countMessages(notArray).get()) == nil)
    }
}

@Suite struct APIErrorTests {
    @Test func bodyHasOpenAIErrorShape() throws {
        let e = APIError.invalid("bad \"value\"\nhere", param: "max_tokens")
        #expect(e.status == 400)
        #expect(e.type == "invalid_request_error")
        let o = try foundationObject(e.body)
        #expect(o.count == 1)
        let err = try #require(o["error"] as? [String: Any])
        #expect(err["message"] as? String == "bad \"value\"\nhere")
        #expect(err["type"] as? String == "invalid_request_error")
        #expect(err["param"] as? String == "max_tokens")
        #expect(intValue(err["code"]) == 400)
    }

    @Test func bodyWithoutParamHasNull() throws {
        let e = APIError(status: 429, message: "slow down", type: "rate_limit_error", param: nil)
        let err = try #require(try foundationObject(e.body)["error"] as? [String: Any])
        #expect(isJSONNull(err["param"]))
        #expect(intValue(err["code"]) == 429)
        #expect(err["type"] as? String == "rate_limit_error")
        #expect(String(decoding: e.body, as: UTF8.self) == #"{"error":{"message":"slow down","type":"rate_limit_error","param":null,"code":429}}"#)
    }
}
