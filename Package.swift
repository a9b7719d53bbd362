// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "tally",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tally", targets: ["tally"]),
        .library(name: "TallyStoreConformance", targets: ["TallyStoreConformance"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .target(name: "TallyCore"),
        .target(name: "TallyStore", dependencies: ["TallyCore"]),
        .target(name: "TallyStoreConformance", dependencies: ["TallyCore", "TallyStore"]),
        .target(name: "TallySQLite", dependencies: [
            "TallyCore", "TallyStore", "CSQLite",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TallyClickHouse", dependencies: [
            "TallyCore", "TallyStore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TallyIngest", dependencies: [
            "TallyCore", "TallyStore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TallyReports", dependencies: ["TallyCore", "TallyStore"]),
        .target(name: "TallyServer", dependencies: [
            "TallyCore", "TallyStore", "TallySQLite", "TallyClickHouse", "TallyIngest", "TallyReports",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "tally", dependencies: [
            "TallyCore", "TallyStore", "TallySQLite", "TallyIngest", "TallyReports", "TallyServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TallyCoreTests", dependencies: ["TallyCore"]),
        .testTarget(name: "TallyStoreTests", dependencies: ["TallyStore", "TallyStoreConformance"]),
        .testTarget(name: "TallySQLiteTests", dependencies: ["TallySQLite", "TallyStoreConformance"]),
        .testTarget(name: "TallyClickHouseTests", dependencies: ["TallyClickHouse", "TallyStoreConformance"]),
        .testTarget(name: "TallyIngestTests", dependencies: ["TallyIngest", "TallyStore", "TallySQLite"]),
        .testTarget(name: "TallyReportsTests", dependencies: ["TallyReports", "TallyStore"]),
        .testTarget(name: "TallyServerTests", dependencies: [
            "TallyServer", "TallyStore",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
    ]
)

// Strict settings, applied to every target in one place.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .enableUpcomingFeature("ExistentialAny"),
        .unsafeFlags(["-warnings-as-errors"], .when(configuration: .debug)),
    ]
}
