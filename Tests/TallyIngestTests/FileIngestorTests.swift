import Foundation
import TallyCore
import TallySQLite
import TallyStore
import Testing

@testable import TallyIngest

/// `tally ingest` of native files into a real SQLite store, with tiny blocks and batches so
/// lines straddle blocks, some line outgrows a block, and several commits are in flight: the
/// store must end up exactly as the generator's own record says, whatever the block size.
@Suite("FileIngestor")
struct FileIngestorTests {
    static let accounts = ["acme", "acme-sub1", "other"]

    /// A file of native events and what it amounts to, worked out without any decoder.
    struct Generated {
        var text = ""
        var usage: [String: [Int64]] = [:]  // "account|hostname" → [bytes, requests]
        var lines = 0, accepted = 0, duplicates = 0, rejected = 0
        var rejectedLines: [Int] = []
    }

    static func generate(events: Int, seed: UInt64) -> Generated {
        var rng = SeededRandom(seed: seed)
        var g = Generated()
        var ids: [String] = []
        for i in 0..<events {
            let line = i + 1
            let account = accounts[Int(rng.next() % 3)]
            let host = i == 100 ? String(repeating: "h", count: 256) : "host\(rng.next() % 20).example"
            let bytes = Int64(rng.next() % 1_000_000), requests = Int64(rng.next() % 3)
            // Every 23rd event reuses the id of one a few lines back, with other values: the first counts.
            let repeated = i % 23 == 22
            let id = repeated ? ids[ids.count - 1 - Int(rng.next() % 5)] : "e\(i)"
            let broken = i % 31 == 30
            let time = "2026-01-01T\(String(format: "%02d", i / 60 % 24)):\(String(format: "%02d", i % 60)):07Z"
            g.text += #"{"id":"\#(id)","source":"gen","time":"\#(time)","account":"\#(broken ? "nobody" : account)","product":"residential","#
                + #""dimensions":{"hostname":"\#(host)","port":"443","country":"US","status":"200"},"metrics":{"bytes":\#(bytes),"requests":\#(requests)}}"#
            g.text += i == events - 1 ? "" : i % 5 == 0 ? "\r\n" : "\n"
            g.lines += 1
            if broken {
                g.rejected += 1
                g.rejectedLines.append(line)
            } else if repeated {
                g.duplicates += 1
            } else {
                ids.append(id)
                g.accepted += 1
                g.usage["\(account)|\(host)", default: [0, 0]][0] += bytes
                g.usage["\(account)|\(host)", default: [0, 0]][1] += requests
            }
        }
        return g
    }

    static func totals(_ store: any UsageStore) async throws -> [String: [Int64]] {
        let rows = try await store.aggregate(StoreQuery(accounts: accounts, product: "residential", tier: .day,
                                                        from: 1_767_225_600 - 86_400, to: 1_767_225_600 + 10 * 86_400, groupByAccount: true, groupBy: [0]))
        var out: [String: [Int64]] = [:]
        for r in rows {
            let key = "\(r.account ?? "?")|\(r.groups[0])"
            out[key] = zip(out[key] ?? [0, 0], r.metrics).map { $0 + $1 }
        }
        return out
    }

    @Test(arguments: [(97, 1), (200, 7), (4096, 50), (1 << 20, 100_000)])
    func smallBlocksAndBatchesAddUpExactly(blockBytes: Int, commitEvents: Int) async throws {
        let g = Self.generate(events: 700, seed: UInt64(blockBytes))
        let scratch = try SquidScratch()
        try scratch.append("events.ndjson", g.text)
        let store = try SQLiteUsageStore(path: scratch.file("t.sqlite"), logger: SquidFixture.quiet)
        try await store.prepare(products: NativeFastPathTests.catalog)
        var ingestor = FileIngestor(store: store, validator: NativeFastPathTests.validator(), dedupWindow: 86_400 * 400, now: NativeFastPathTests.now)
        ingestor.blockBytes = blockBytes
        ingestor.commitEvents = commitEvents
        let summary = try await ingestor.ingest(path: scratch.file("events.ndjson"), format: .native)
        #expect(summary.lines == g.lines)
        #expect(summary.accepted == g.accepted)
        #expect(summary.duplicates == g.duplicates)
        #expect(summary.rejected == g.rejected)
        #expect(summary.problems.map { Int($0.split(separator: ":")[1])! } == g.rejectedLines)
        #expect(try await Self.totals(store) == g.usage)

        // The same file again counts nothing twice.
        let again = try await ingestor.ingest(path: scratch.file("events.ndjson"), format: .native)
        #expect(again.accepted == 0 && again.duplicates == g.accepted + g.duplicates)
        #expect(try await Self.totals(store) == g.usage)
        try await store.close()
    }

    /// An empty file and a file of blank lines commit nothing and say so.
    @Test func emptyFiles() async throws {
        let scratch = try SquidScratch()
        try scratch.append("empty.ndjson", "")
        try scratch.append("blank.ndjson", "\n\n  \n")
        let store = try SQLiteUsageStore(path: scratch.file("t.sqlite"), logger: SquidFixture.quiet)
        try await store.prepare(products: NativeFastPathTests.catalog)
        var ingestor = FileIngestor(store: store, validator: NativeFastPathTests.validator(), dedupWindow: 86_400, now: NativeFastPathTests.now)
        ingestor.blockBytes = 2
        for name in ["empty.ndjson", "blank.ndjson"] {
            let s = try await ingestor.ingest(path: scratch.file(name), format: .native)
            #expect(s.accepted == 0 && s.rejected == 0 && s.problems.isEmpty, "\(name)")
        }
        try await store.close()
    }
}
