import Foundation
import TallyCore
import TallyStore
import TallyStoreConformance
import Testing

@testable import TallyClickHouse

/// The spare ClickHouse node of `scripts/ci/start-clickhouse.sh` (configured, not started), run
/// and killed by this test alone. Its pid file lets the script stop it should the test die.
final class SpareServer: @unchecked Sendable {
    let config: String
    let url: String
    private var process: Process?

    init(config: String, url: String) {
        self.config = config
        self.url = url
    }

    private var pidFile: String { (config as NSString).deletingLastPathComponent + "/pid" }

    /// Starts clickhouse-server on the spare config and waits (up to 30 s) until it answers.
    func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["clickhouse-server", "--config-file=\(config)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try String(p.processIdentifier).write(toFile: pidFile, atomically: true, encoding: .utf8)
        for _ in 0..<300 {
            if (try? await TestServers.query(url, "SELECT 1")) == "1\n" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ConformanceFailure("the spare clickhouse-server did not answer within 30 s")
    }

    /// SIGKILL: no shutdown, in-flight requests cut.
    func kill() {
        guard let p = process else { return }
        Foundation.kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        process = nil
        try? FileManager.default.removeItem(atPath: pidFile)
    }
}

@Suite("ClickHouse outage")
struct OutageTests {
    /// ClickHouse is SIGKILLed while four writers ingest and started again a little later.
    /// While it is gone, commits fail with a retryable `.unavailable` (within the retry budget,
    /// not hanging); every acknowledged batch is there after the restart; batches retried with
    /// their idempotency key count once; and the same store instance resumes on its own.
    @Test(.enabled(if: TestServers.hasSpare, "no spare ClickHouse: TALLY_CLICKHOUSE_SPARE_CONFIG is not set"))
    func killedDuringIngest() async throws {
        let server = SpareServer(config: TestServers.spareConfig!, url: TestServers.spareURL!)
        try await server.start()
        defer { server.kill() }
        let db = TestServers.freshDatabase()
        let store = try TestServers.singleStore(db, url: server.url, retryDelays: [.milliseconds(50), .milliseconds(100)])
        try await store.prepare(products: UsageStoreConformance.catalog)
        let t0 = UsageStoreConformance.t0

        /// Batch `b` of writer `w`: 50 events with ids, one byte count naming the batch.
        @Sendable func batch(_ w: Int, _ b: Int) -> IngestBatch {
            let events = (0..<50).map { i in
                UsageEvent(id: "w\(w)-b\(b)-e\(i)", source: "gw", time: t0 + Int64(b * 60 + i), account: "acct-\(w)", product: "api",
                           dimensions: ["eu", "GET"], metrics: [1, Int64(b + 1), 7])
            }
            return IngestBatch(events: events, idempotencyKey: "w\(w)-b\(b)", receivedAt: t0 + Int64(b))
        }
        let writers = 4, batches = 60
        typealias Outcome = (writer: Int, acked: [Int], failed: [Int], errors: [StoreError])
        let outcome = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for w in 0..<writers {
                group.addTask {
                    var acked: [Int] = [], failed: [Int] = [], errors: [StoreError] = []
                    for b in 0..<batches {
                        do {
                            let r = try await store.commit(batch(w, b), dedupWindow: 86_400)
                            #expect(r.accepted + r.duplicates == 50)
                            acked.append(b)
                        } catch let e as StoreError {
                            failed.append(b)
                            errors.append(e)
                        }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    return (w, acked, failed, errors)
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(300))
                server.kill()
                // One commit surely made while ClickHouse is gone (the writers may be starved
                // of threads on a busy machine): it fails, retryably, and leaves nothing.
                let probe = UsageEvent(time: t0, account: "probe", product: "api", dimensions: ["eu", "GET"], metrics: [1, 1, 1])
                let error = await #expect(throws: StoreError.self) {
                    try await store.commit(IngestBatch(events: [probe], receivedAt: t0), dedupWindow: 86_400)
                }
                try await Task.sleep(for: .seconds(2))
                try await server.start()
                return (-1, [], [], error.map { [$0] } ?? [])
            }
            return try await group.reduce(into: [Outcome]()) { $0.append($1) }
        }
        let perWriter = outcome.filter { $0.writer >= 0 }.sorted { $0.writer < $1.writer }
        #expect(perWriter.count == writers)
        let errors = outcome.flatMap(\.errors)
        #expect(!errors.isEmpty, "commits made while ClickHouse was down failed")
        #expect(errors.allSatisfy { $0.code == .unavailable && $0.message.contains("retry") }, "\(Set(errors.map(\.description)))")
        #expect(perWriter.allSatisfy { !$0.acked.isEmpty }, "writers resumed after the restart")

        // Clients retry what failed, with the same idempotency key, until it is acknowledged.
        for o in perWriter {
            for b in o.failed {
                let r = try await store.commit(batch(o.writer, b), dedupWindow: 86_400)
                #expect(r.accepted + r.duplicates == 50)
            }
        }
        // Every batch counted exactly once: 50 events each, bytes sum 50 · (b + 1) per batch.
        let bytesPerWriter = Int64(50 * (1...batches).reduce(0, +))
        let q = StoreQuery(accounts: (0..<writers).map { "acct-\($0)" }, product: "api", tier: .day, from: t0 - 86_400, to: t0 + 86_400, groupByAccount: true)
        let expected = (0..<writers).map { StoreRow(bucket: t0, account: "acct-\($0)", groups: [], metrics: [Int64(50 * batches), bytesPerWriter, Int64(350 * batches)]) }
        let rows = try await store.aggregate(q)
        #expect(rows == expected, "database \(db): \(rows.map(\.metrics)) for \(perWriter.map(\.failed))")
        #expect(try await store.aggregate(StoreQuery(accounts: ["probe"], product: "api", tier: .day, from: t0 - 86_400, to: t0 + 86_400)) == [])
        try await store.close()

        // A new store (a restarted Tally) sees the same; resending everything counts nothing.
        let again = try TestServers.singleStore(db, url: server.url)
        try await again.prepare(products: UsageStoreConformance.catalog)
        #expect(try await again.aggregate(q) == expected)
        let resent = try await again.commit(IngestBatch(events: (0..<writers).flatMap { batch($0, 5).events }, receivedAt: t0 + 100), dedupWindow: 86_400)
        #expect(resent == IngestReceipt(accepted: 0, duplicates: 200))
        #expect(try await again.aggregate(q) == expected)
        try await again.close()
    }
}
