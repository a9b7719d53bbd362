import Foundation
import Logging
import ServiceLifecycle
import Testing
import TallyCore
import TallyServer
import TallyStore

/// `tail:` entries as services: a graceful shutdown commits what the log holds, with its position.
@Suite("TailService")
struct TailServiceTests {
    @Test func gracefulShutdownCommitsTheLogWithItsCheckpoint() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-tail-service-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/access.log"
        let lines = """
            1767225600.100     12 127.0.0.1 TCP_MISS/200 1000 GET http://a.example/x alice HIER_DIRECT/1.2.3.4 text/html
            1767225601.100     12 127.0.0.1 TCP_TUNNEL/200 2500 CONNECT b.example:443 alice HIER_DIRECT/1.2.3.4 -
            1767225602.100      3 127.0.0.1 TCP_DENIED/407 3513 GET http://a.example/x alice HIER_NONE/- text/html
            1767225603.100     12 127.0.0.1 TCP_MISS/200 40 GET http://a.example/y bob HIER_DIRECT/1.2.3.4 text/html

            """
        try Data(lines.utf8).write(to: URL(fileURLWithPath: log))
        let yaml = """
            storage: { kind: sqlite, path: \(dir)/tally.db }
            ingest: { unassigned_account: catchall }
            products:
              residential:
                dimensions: [hostname, port, status]
                metrics: { bytes: { kind: integer }, requests: { kind: integer } }
            accounts:
              - { id: a, username: alice }
              - { id: catchall }
            tail:
              - { path: \(log), format: squid, product: residential }
            """
        let config = try ConfigLoader.load(yaml: yaml, environment: [:])
        let logger = Logger(label: "tally.tests.tail", factory: { _ in SwiftLogNoOpLogHandler() })
        let runtime = TallyRuntime(config: config, store: try await TallyRuntime.openStore(config, logger: logger), logger: logger, now: { 1_800_000_000 })
        let services = try TailService.services(runtime: runtime)
        #expect(services.count == 1)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        async let running: Void = group.run()
        await group.triggerGracefulShutdown()
        try await running
        try await runtime.store.close()

        // A fresh store on the same file: the commit is durable.
        let store = try await TallyRuntime.openStore(config, logger: logger)
        let rows = try await store.aggregate(StoreQuery(accounts: ["a", "catchall"], product: "residential", tier: .day,
                                                        from: 1_767_225_600, to: 1_767_225_600 + 86_400, groupByAccount: true, groupBy: [0]))
        #expect(rows.map { "\($0.account!) \($0.groups[0]) \($0.metrics)" } == ["a a.example [1000, 1]", "a b.example [2500, 1]", "catchall a.example [40, 1]"])
        let position = try await store.checkpoint(reader: "squid:" + log)
        #expect(position?.contains("off=\(lines.utf8.count) line=4 ") == true)
        try await store.close()
    }
}
