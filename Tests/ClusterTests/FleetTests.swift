import BenchCore
import Engine
import Testing
@testable import Cluster

@Suite struct FleetTests {
    @Test func placeholderBuilds() {}
}
