import BenchCore
import Engine
import HTTPTypes
import Hummingbird
import Models
import NIOCore
import OpenAIWire

/// A real model's text side of `serve`: prompts are tokenized (chat messages through the
/// model's template), sampling comes from the request, and the generated ids are decoded back
/// into the streamed text.
public struct ServedText: Sendable {
    public let tokenizer: ModelTokenizer
    public let chatTemplate: ChatTemplate?

    public init(tokenizer: ModelTokenizer, chatTemplate: ChatTemplate?) {
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
    }

    func tokenize(_ input: PromptInput, vocabSize: Int) -> Result<[Int32], APIError> {
        let ids: [Int32]
        switch input {
        case .text(let s):
            ids = tokenizer.encode(s)
        case .tokenIDs(let list):
            if let i = list.firstIndex(where: { $0 >= vocabSize }) {
                return .failure(.invalid("'prompt[\(i)]' is \(list[i]), outside the model's vocabulary of \(vocabSize)", param: "prompt"))
            }
            ids = list.map { Int32($0) }
        case .messages(let messages):
            guard let chatTemplate else {
                return .failure(.invalid("this model has no chat template; use /v1/completions or start serve with --chat-template", param: "messages"))
            }
            ids = tokenizer.encode(chatTemplate.render(messages.map { .init(role: $0.role, content: $0.content) }))
        }
        if ids.isEmpty { return .failure(.invalid("the prompt has no tokens", param: "prompt")) }
        return .success(ids)
    }

    /// Sampling as the request asks: temperature 1 when it names none (OpenAI's and vLLM's
    /// default), a seed from the prompt when it gives none (the same prompt, the same draws).
    func requestTokens(_ g: GenRequest) -> RequestTokens {
        let sampling = SamplingParams(temperature: g.temperature ?? 1, topK: g.topK ?? 0, topP: g.topP ?? 1,
                                      seed: g.seed ?? g.promptDigest)
        return RequestTokens(prompt: g.promptIDs ?? [], sampling: sampling, stopIDs: tokenizer.stopIDs, ignoreEOS: g.ignoreEOS,
                             minTokens: g.minTokens ?? 0)
    }

    static func finishReason(_ tokens: RequestTokens) -> String { tokens.stopped ? "stop" : "length" }

    /// A non-streamed reply: the decoded output once the request finishes.
    func completeResponse(_ stream: AsyncStream<TokenEvent>, tokens: RequestTokens, encoder: ChunkEncoder,
                          headers: HTTPFields) async throws -> Response {
        var headers = headers
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        var text = ""
        var count = 0
        var reason = FinishReason.aborted
        var message: String?
        for await e in stream {
            switch e {
            case .token(_, _, let id):
                count += 1
                text += decoder.push(id)
            case .finished(let r, let m): reason = r; message = m
            }
        }
        guard reason == .completed else { throw OpenAIErrorReply(error: ServeServer.engineError(reason, message), extraHeaders: [:]) }
        text += decoder.flush()
        headers[.contentType] = "application/json"
        let body = encoder.body(completion: count, finishReason: Self.finishReason(tokens), text: text)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// A streamed reply: an SSE event for each token that adds text, then one with the finish
    /// reason, the usage (when asked for) and `[DONE]`.
    func streamingResponse(_ stream: AsyncStream<TokenEvent>, served: ServedRequest, tokens: RequestTokens, request g: GenRequest,
                           encoder: ChunkEncoder, headers: HTTPFields, loop: RealTimeDriver) -> Response {
        var headers = headers
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        let tokenizer = self.tokenizer
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            do {
                var decoder = IncrementalDecoder(tokenizer: tokenizer)
                var scratch: [UInt8] = []
                var out = ByteBuffer()
                var count = 0
                for await e in stream {
                    out.clear()
                    switch e {
                    case .token(let i, _, let id):
                        count = i + 1
                        if g.endpoint == .chat && i == 0 {
                            encoder.role(into: &scratch)
                            out.writeBytes(scratch)
                        }
                        let delta = decoder.push(id)
                        if !delta.isEmpty {
                            encoder.content(into: &scratch, text: delta, completion: count, finishReason: nil)
                            out.writeBytes(scratch)
                        }
                    case .finished(let reason, let message):
                        if reason == .completed {
                            encoder.content(into: &scratch, text: decoder.flush(), completion: count, finishReason: Self.finishReason(tokens))
                            out.writeBytes(scratch)
                            if g.includeUsage {
                                encoder.usage(into: &scratch, completion: count)
                                out.writeBytes(scratch)
                            }
                        } else {
                            ServeServer.writeErrorEvent(reason, message, into: &out)
                        }
                        out.writeString("data: [DONE]\n\n")
                    }
                    if out.readableBytes > 0 { try await writer.write(out) }
                }
                try await writer.finish(nil)
            } catch {
                loop.abort(served, reason: "client disconnected")
                throw error
            }
        })
    }
}
