import Foundation
import TallyCore
import TallyStore
import TallyStoreConformance
import Testing

@testable import TallySQLite

/// The writer's helpers that change only how fast it goes: size hints for the dedup index and
/// the checkpointer beside the writer. Neither may change what is stored or lose a commit.
@Suite("SQLite write path")
struct WritePathTests {
    /// Three batches with duplicates inside a batch, across batches and events without ids.
    static let batches: [[UsageEvent]] = (0..<3).map { b in
        (0..<3_000).map { i in
            let id: String? = i % 10 == 0 ? nil : "e\((b * 3_000 + i) % 7_000)"
            return apiEvent(t0 + Int64(i * 29 % 86_400), account: "acct-\(i % 3)", dims: [i % 2 == 0 ? "eu" : "us", "GET"], [1, Int64(i), Int64(b)], id: id)
        }
    }

    /// What committing `batches` gives: each receipt, then the day rows by account and region.
    static func commitAll(_ store: SQLiteUsageStore) async throws -> ([IngestReceipt], [StoreRow]) {
        var receipts: [IngestReceipt] = []
        for (b, events) in batches.enumerated() {
            receipts.append(try await store.commit(IngestBatch(events: events, receivedAt: t0 + Int64(b)), dedupWindow: day))
        }
        let rows = try await store.aggregate(dayQuery(["acct-0", "acct-1", "acct-2"], groupBy: [0], byAccount: true))
        return (receipts, rows)
    }

    @Test(arguments: [0, -1, 1, 100, 2_000_000, Int.max])
    func sizeHintsNeverChangeResults(hint: Int) async throws {
        let dir = try TemporaryDirectory()
        let plain = try SQLiteUsageStore(path: dir.database(), logger: .quiet)
        let hinted = try SQLiteUsageStore(path: dir.database(), logger: .quiet)
        for store in [plain, hinted] { try await store.prepare(products: UsageStoreConformance.catalog) }
        hinted.expect(events: hint)
        let expected = try await Self.commitAll(plain)
        let got = try await Self.commitAll(hinted)
        #expect(got.0 == expected.0)
        #expect(got.1 == expected.1)
        // The model: ids count once across the batches, events without an id always count.
        let all = Self.batches.joined()
        let unique = Set(all.compactMap(\.id)).count + all.filter { $0.id == nil }.count
        #expect(got.0.map(\.accepted).reduce(0, +) == unique)
        #expect(got.0.map(\.duplicates).reduce(0, +) == all.count - unique)
        #expect(got.1.map { $0.metrics[0] }.reduce(0, +) == Int64(unique))
        try await plain.close()
        try await hinted.close()
    }

    @Test func hintsAreCappedAndSizeTheIndexOnce() {
        var index = DedupIndex()
        index.reserve(min(Int.max, DedupIndex.largestHint))
        let slots = index.capacity
        #expect(slots >= 2 * DedupIndex.largestHint && slots <= 4 * DedupIndex.largestHint)
        for i in 0..<50_000 { _ = index.admit(DedupKey(source: "s", id: "e\(i)"), at: 10, cutoff: 0) }
        #expect(index.capacity == slots, "the index grew although it had room")
    }

    /// A checkpoint after every commit: each commit finds the WAL copied into the main file and
    /// starts it over, so the WAL stays the size of one commit, and every commit is in the file.
    @Test func checkpointsBesideTheWriterKeepEveryCommit() async throws {
        let dir = try TemporaryDirectory()
        let eager = try SQLiteUsageStore(path: dir.database("eager"), checkpointPages: 1, logger: .quiet)
        let never = try SQLiteUsageStore(path: dir.database("never"), checkpointPages: Int.max, logger: .quiet)
        for store in [eager, never] { try await store.prepare(products: UsageStoreConformance.catalog) }
        let rounds = 8
        for r in 0..<rounds {
            for store in [eager, never] {
                let events = (0..<2_000).map { i in apiEvent(t0 + Int64(r * 3_600 + i), account: "acct-\(i % 5)", [1, Int64(i), 0], id: "r\(r)-\(i)") }
                _ = try await store.commit(IngestBatch(events: events, receivedAt: t0 + Int64(r)), dedupWindow: day)
                store.waitForCheckpoint()
            }
        }
        func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let eagerWAL = size(eager.path + "-wal"), neverWAL = size(never.path + "-wal")
        #expect(eagerWAL > 0 && eagerWAL * 3 < neverWAL, "WAL \(eagerWAL) bytes with checkpoints, \(neverWAL) without")
        #expect(size(eager.path) > size(never.path), "the checkpoints did not copy the WAL into the main file")

        // A copy of the files as a crash leaves them (no close) holds every commit.
        let copy = dir.database("copy")
        for suffix in ["", "-wal"] { try FileManager.default.copyItem(atPath: eager.path + suffix, toPath: copy + suffix) }
        let reopened = try SQLiteUsageStore(path: copy, logger: .quiet)
        try await reopened.prepare(products: UsageStoreConformance.catalog)
        let accounts = (0..<5).map { "acct-\($0)" }
        let total = try await reopened.aggregate(dayQuery(accounts)).map { $0.metrics[0] }.reduce(0, +)
        #expect(total == Int64(rounds * 2_000))
        #expect(try await reopened.aggregate(dayQuery(accounts)) == (try await eager.aggregate(dayQuery(accounts))))

        // close() still leaves an empty WAL.
        for store in [eager, never, reopened] {
            try await store.close()
            #expect(size(store.path + "-wal") == 0)
        }
    }

    /// A new store gets 16 KiB pages; a store created with SQLite's default 4 KiB pages keeps
    /// them (a page size cannot change in WAL mode) and takes and answers commits as before.
    @Test func newStoresUseLargerPagesAndOldOnesKeepTheirs() async throws {
        let dir = try TemporaryDirectory()
        func pageSize(_ path: String) throws -> Int {
            let c = try Connection(path: path, readOnly: true)
            let s = try c.prepare("PRAGMA page_size")
            _ = try s.step()
            return Int(s.int(0))
        }
        let fresh = dir.database("fresh"), old = dir.database("old")
        do {
            let c = try Connection(path: old, readOnly: false)
            try c.execute("PRAGMA page_size=4096; VACUUM; PRAGMA journal_mode=WAL; CREATE TABLE earlier(x);")
        }
        #expect(try pageSize(old) == 4_096)
        for path in [fresh, old] {
            let store = try SQLiteUsageStore(path: path, logger: .quiet)
            try await store.prepare(products: UsageStoreConformance.catalog)
            let events = (0..<2_000).map { i in apiEvent(t0 + Int64(i), account: "acct-\(i % 5)", [1, Int64(i), 0], id: "p\(i)") }
            let receipt = try await store.commit(IngestBatch(events: events, receivedAt: t0), dedupWindow: day)
            #expect(receipt.accepted == 2_000)
            let total = try await store.aggregate(dayQuery((0..<5).map { "acct-\($0)" })).map { $0.metrics[0] }.reduce(0, +)
            #expect(total == 2_000)
            try await store.close()
        }
        #expect(try pageSize(fresh) == Connection.pageSize && Connection.pageSize == 16_384)
        #expect(try pageSize(old) == 4_096)
    }

    /// The writer skips looking for fragments in a bucket past the latest it knows of, so it must
    /// forget what it knows when another writer (here a second store on the same file, as
    /// `tally ingest` beside `tally serve`) commits: otherwise a sum that overflows across the two
    /// writers' fragments would not be caught.
    @Test func anotherWritersBlocksAreSeen() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.database()
        let a = try SQLiteUsageStore(path: path, logger: .quiet)
        let b = try SQLiteUsageStore(path: path, logger: .quiet)
        for store in [a, b] { try await store.prepare(products: UsageStoreConformance.catalog) }
        let half = Int64.max / 2 + 1
        _ = try await a.commit(IngestBatch(events: [apiEvent(t0, [1, 1, 1])], receivedAt: t0), dedupWindow: day)
        _ = try await b.commit(IngestBatch(events: [apiEvent(t0 + day, [half, 1, 1])], receivedAt: t0), dedupWindow: day)
        let error = await #expect(throws: StoreError.self) {
            _ = try await a.commit(IngestBatch(events: [apiEvent(t0 + day + 5, [half, 1, 1])], receivedAt: t0), dedupWindow: day)
        }
        #expect(error?.code == .overflow)
        // Sums that fit are exact whichever writer stored each part.
        for i in 0..<12 {
            _ = try await (i % 2 == 0 ? a : b).commit(IngestBatch(events: [apiEvent(t0 + 2 * day + Int64(i), [Int64(i), 1, 1])], receivedAt: t0), dedupWindow: day)
        }
        for store in [a, b] {
            let rows = try await store.aggregate(StoreQuery(accounts: ["acme"], product: "api", tier: .quarterHour, from: t0, to: t0 + 3 * day))
            #expect(rows.map(\.bucket) == [t0, t0 + day, t0 + 2 * day])
            #expect(rows.map { $0.metrics[0] } == [1, half, 66])
        }
        for store in [a, b] { try await store.close() }
    }
}
