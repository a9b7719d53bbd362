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

    @Test func anAccountCreatedAtRunTimeIsMeteredWithoutRestart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tally-tail-live-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = dir + "/access.log"
        let carol = { (bytes: Int) in "1767225600.100     12 127.0.0.1 TCP_MISS/200 \(bytes) GET http://c.example/ carol HIER_DIRECT/1.2.3.4 text/html\n" }
        try Data(carol(111).utf8).write(to: URL(fileURLWithPath: log))
        let yaml = """
            storage: { kind: sqlite, path: \(dir)/tally.db }
            ingest: { unassigned_account: catchall }
            products:
              residential:
                dimensions: [hostname]
                metrics: { bytes: { kind: integer } }
            accounts:
              - { id: catchall }
            tail:
              - { path: \(log), format: squid, product: residential }
            """
        let config = try ConfigLoader.load(yaml: yaml, environment: [:])
        let runtime = TallyRuntime(config: config, store: try await TallyRuntime.openStore(config, logger: logger), logger: logger, now: { 1_800_000_000 })
        let group = ServiceGroup(configuration: .init(services: try TailService.services(runtime: runtime), logger: logger))
        async let running: Void = group.run()
        // carol's first line is read while she has no account: it goes to the catch-all.
        try await waitForCheckpoint(line: 1, log: log, store: runtime.store)
        var change = AccountChange()
        change.username = "carol"
        _ = try await runtime.accounts.create(id: "acct-carol", parent: nil, change: change)
        let handle = try #require(FileHandle(forWritingAtPath: log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(carol(222).utf8))
        try handle.close()
        try await waitForCheckpoint(line: 2, log: log, store: runtime.store)
        await group.triggerGracefulShutdown()
        try await running
        let rows = try await runtime.store.aggregate(StoreQuery(accounts: ["acct-carol", "catchall"], product: "residential", tier: .day,
                                                                from: 1_767_225_600, to: 1_767_225_600 + 86_400, groupByAccount: true, groupBy: [0]))
        #expect(rows.map { "\($0.account!) \($0.groups[0]) \($0.metrics)" } == ["acct-carol c.example [222]", "catchall c.example [111]"])
        try await runtime.store.close()
    }

    let logger = Logger(label: "tally.tests.tail", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Waits (at most 30 s) until the tail of `log` committed its first `line` lines.
    private func waitForCheckpoint(line: Int, log: String, store: any UsageStore) async throws {
        for _ in 0..<300 {
            if let p = try await store.checkpoint(reader: "squid:" + log), p.contains(" line=\(line) ") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the tail did not commit line \(line) of \(log)")
    }
}
