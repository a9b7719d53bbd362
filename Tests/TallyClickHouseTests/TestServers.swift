import Foundation
import Logging
@testable import TallyClickHouse
import TallyCore
import Testing

/// The ClickHouse servers `scripts/ci/start-clickhouse.sh` started, read from the environment.
///
/// Tests that need one are disabled, with a note saying so in the test output, when the
/// variables are missing (a developer without servers); under CI `serversArePresentInCI` fails
/// instead, because CI never skips them.
enum TestServers {
    static let environment = ProcessInfo.processInfo.environment
    static let single = environment["TALLY_CLICKHOUSE_URL"]
    static let clusterName = environment["TALLY_CLICKHOUSE_CLUSTER"]
    static let clusterURL = environment["TALLY_CLICKHOUSE_CLUSTER_URL"]
    static let shards = environment["TALLY_CLICKHOUSE_SHARDS"].map { $0.split(separator: ",").map(String.init) } ?? []
    static let spareConfig = environment["TALLY_CLICKHOUSE_SPARE_CONFIG"]
    static let spareURL = environment["TALLY_CLICKHOUSE_SPARE_URL"]

    static var hasSingle: Bool { announce(single != nil, "TALLY_CLICKHOUSE_URL") }
    static var hasCluster: Bool { announce(clusterName != nil && clusterURL != nil && !shards.isEmpty, "TALLY_CLICKHOUSE_CLUSTER*") }
    static var hasSpare: Bool { announce(spareConfig != nil && spareURL != nil, "TALLY_CLICKHOUSE_SPARE_*") }

    /// Prints a loud line when a variable is missing, so a skipped run is never mistaken for a pass.
    private static func announce(_ present: Bool, _ what: String) -> Bool {
        if !present {
            FileHandle.standardError.write(Data("""
                ⚠️  SKIPPING ClickHouse tests: \(what) is not set. Start the servers with \
                `cleanup=(); source scripts/ci/start-clickhouse.sh` (scripts/test does this).\n
                """.utf8))
        }
        return present
    }

    /// A database name no other test uses.
    static func freshDatabase() -> String { "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// A store on the single node, in a fresh database unless one is named.
    static func singleStore(_ database: String = freshDatabase(), url: String? = nil, retryDelays: [Duration]? = nil) throws -> ClickHouseUsageStore {
        var c = ClickHouseStoreConfiguration(url: url ?? single!, database: database)
        if let retryDelays { c.retryDelays = retryDelays }
        return try ClickHouseUsageStore(configuration: c, logger: .quiet)
    }

    /// A store on the two-shard cluster, in a fresh database unless one is named.
    static func clusterStore(_ database: String = freshDatabase(), rootAccount: @escaping @Sendable (String) -> String = { $0 }) throws -> ClickHouseUsageStore {
        let c = ClickHouseStoreConfiguration(url: clusterURL!, database: database, cluster: clusterName!, shards: shards)
        return try ClickHouseUsageStore(configuration: c, logger: .quiet, rootAccount: rootAccount)
    }

    /// One HTTP client for checks made from outside a store.
    static let http = ClickHouseHTTP(user: nil, password: nil)

    /// Runs one statement on a node and returns its answer as text (TabSeparated).
    static func query(_ node: String, _ sql: String) async throws -> String {
        String(decoding: try await http.execute(node: node, sql), as: UTF8.self)
    }
}

extension Logger {
    /// Store logs are not the tests' output; failures show up as thrown errors.
    static let quiet = Logger(label: "tally.tests.clickhouse", factory: { _ in SwiftLogNoOpLogHandler() })
}

@Suite("ClickHouse test servers")
struct TestServerPresence {
    /// CI starts the servers (scripts/test sources scripts/ci/start-clickhouse.sh), so there a
    /// missing variable is a failure, not a skip.
    @Test func serversArePresentInCI() {
        guard TestServers.environment["CI"] != nil else { return }
        #expect(TestServers.single != nil, "TALLY_CLICKHOUSE_URL must be set under CI")
        #expect(TestServers.clusterURL != nil && TestServers.clusterName != nil && TestServers.shards.count == 2, "the cluster must be configured under CI")
        #expect(TestServers.spareConfig != nil, "the spare node must be configured under CI")
    }
}
