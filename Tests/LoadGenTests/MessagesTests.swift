import Testing
@testable import LoadGen

@Suite struct MessagesTests {
    /// Records and errors show a stream error's message, not the Swift case.
    @Test func streamErrorsReadAsTheirMessage() {
        #expect("\(StreamError.malformed("response body is not JSON"))" == "response body is not JSON")
        #expect("\(StreamError.server("overloaded"))" == "overloaded")
    }
}
