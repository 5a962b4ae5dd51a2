// swift-tools-version: 6.1
// The micro-benchmarks of SIPProxy's message path (issue 12): parse, forward through the real ProxyCore, serialize,
// per message, with ordo-one/benchmark. A package of its own so that the main package, its CI build and `.ci/run`
// neither build nor know about the benchmark dependencies. Run: `swift package benchmark` (Benchmarks/README.md).
import PackageDescription

let package = Package(
    name: "SIPProxyMicroBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Named, so that the product reference below does not depend on the checkout's folder name.
        .package(name: "SIPProxy", path: "../.."),
        // The malloc interposer counts allocations without jemalloc; listing the trait turns the default ones off.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "SIPMicro",
            dependencies: [
                .product(name: "SIPProxy", package: "SIPProxy"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/SIPMicro",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
