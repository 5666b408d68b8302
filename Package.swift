// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "accelbench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "accelbench", targets: ["accelbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // Time, request/SLO/workload types, seeded RNG, run records, JSON writing. No I/O.
        .target(name: "BenchCore"),
        // Spec parsing, distributions, arrival processes, trace readers, generation.
        .target(name: "Workloads", dependencies: [
            "BenchCore",
            .product(name: "Yams", package: "Yams"),
            .product(name: "HeapModule", package: "swift-collections"),
        ]),
        // Metrics (summary.json), results directories, tables.
        .target(name: "Reporting", dependencies: [
            "BenchCore",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .executableTarget(name: "accelbench", dependencies: [
            "BenchCore", "Workloads", "Reporting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        .testTarget(name: "WorkloadsTests", dependencies: ["Workloads", "BenchCore"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "BenchCore"]),
        .testTarget(name: "accelbenchTests", dependencies: ["accelbench", "BenchCore", "Reporting"]),
    ],
    swiftLanguageModes: [.v6]
)
