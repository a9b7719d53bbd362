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

/// How a file is cut into blocks: whole lines, every byte once, small blocks at both ends,
/// whether the file is mapped or read into buffers.
@Suite("BlockReader")
struct BlockReaderTests {
    @Test(arguments: [1024, 4096], [true, false])
    func blocksRampUpAndDownAndCoverTheFile(blockBytes: Int, map: Bool) throws {
        var rng = SeededRandom(seed: UInt64(blockBytes))
        var text = ""
        while text.utf8.count < 20 * blockBytes { text += String(repeating: "x", count: Int(rng.next() % 40)) + "\n" }
        let scratch = try SquidScratch()
        try scratch.append("lines.txt", text)
        let file = try #require(FileHandle(forReadingAtPath: scratch.file("lines.txt")))
        defer { try? file.close() }
        var reader = BlockReader(file: file, blockBytes: blockBytes, map: map)
        var blocks: [(bytes: [UInt8], alone: Bool)] = []
        while let b = try reader.next() {
            #expect((b.mapping != nil) == map)
            blocks.append((Array(b.bytes), b.alone))
            reader.recycle(b)
        }
        #expect(blocks.flatMap(\.bytes) == Array(text.utf8))
        #expect(blocks.allSatisfy { $0.bytes.last == 10 && $0.bytes.count <= blockBytes })
        // Up: an eighth, a quarter, a half (less at most one line), then full blocks.
        for (i, share) in [8, 4, 2].enumerated() {
            #expect(blocks[i].alone && blocks[i].bytes.count <= blockBytes / share && blocks[i].bytes.count > blockBytes / share - 41)
        }
        #expect(blocks[3].bytes.count > blockBytes - 41 && !blocks[3].alone)
        // Down: once less than two blocks are left, each takes at most half of the rest and goes alone.
        let tail = blocks[(blocks.lastIndex { !$0.alone }! + 1)...]
        #expect(tail.count >= 4)
        var left = tail.reduce(0) { $0 + $1.bytes.count }
        #expect(left < 2 * blockBytes)
        for b in tail.dropLast() {
            #expect(b.bytes.count <= max(left / 2, blockBytes / 8))
            left -= b.bytes.count
        }
        #expect(tail.last!.bytes.count <= blockBytes / 8)
    }

    /// A mapped file's decoded blocks leave this process's resident memory when handed back:
    /// of 16 MiB touched, at most a page per block stays.
    @Test func recycledBlocksOfAMappedFileLeaveResidentMemory() throws {
        let line = String(repeating: "r", count: 99) + "\n"
        let scratch = try SquidScratch()
        try scratch.append("big.txt", String(repeating: line, count: 16 << 14))
        let file = try #require(FileHandle(forReadingAtPath: scratch.file("big.txt")))
        defer { try? file.close() }
        var reader = BlockReader(file: file, blockBytes: 1 << 20)
        let mapping = try #require(reader.mapping)
        var blocks: [Block] = []
        var sum = 0
        while let b = try reader.next() {
            sum += b.bytes.reduce(0) { $0 + Int($1) }  // touch every page
            blocks.append(b)
        }
        #expect(sum == 16 << 14 * (99 * 114 + 10))
        let touched = try #require(mapping.residentBytes)
        #expect(touched >= 15 << 20, "only \(touched) bytes of the mapping were resident")
        for b in blocks { reader.recycle(b) }
        let left = try #require(mapping.residentBytes)
        #expect(left <= blocks.count * Int(sysconf(Int32(_SC_PAGESIZE))), "\(left) bytes still resident after \(blocks.count) blocks were handed back")
        // The bytes are still there to read.
        #expect(blocks.last!.bytes.last == 10 && blocks[3].bytes.first == UInt8(ascii: "r"))
    }

    /// A line longer than a block makes a longer block, in both ways of reading.
    @Test(arguments: [true, false])
    func aLineLongerThanABlockStaysWhole(map: Bool) throws {
        let text = "a\n" + String(repeating: "b", count: 5000) + "\nc\n" + String(repeating: "d", count: 3000)
        let scratch = try SquidScratch()
        try scratch.append("long.txt", text)
        let file = try #require(FileHandle(forReadingAtPath: scratch.file("long.txt")))
        defer { try? file.close() }
        var reader = BlockReader(file: file, blockBytes: 1024, map: map)
        var blocks: [String] = []
        while let b = try reader.next() { blocks.append(String(decoding: b.bytes, as: UTF8.self)) }
        #expect(blocks.joined() == text)
        #expect(blocks.allSatisfy { $0.hasSuffix("\n") || $0 == blocks.last })
        #expect(blocks.contains { $0.contains("\n" + String(repeating: "b", count: 5000) + "\n") || $0.hasPrefix(String(repeating: "b", count: 5000) + "\n") })
    }
}

/// The decode threads: every job's result comes back, and they run below the caller's priority.
@Suite("BackgroundWorkers")
struct BackgroundWorkersTests {
    @Test func jobsRunAtLowerPriority() async throws {
        let workers = BackgroundWorkers(count: 2, niceness: 5)
        defer { workers.stop() }
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        let mine = getpriority(which, 0)
        let results = await withTaskGroup(of: (Int, Int, Int32).self) { group in
            for i in 0..<50 { group.addTask { await workers.run { (i, (0...i).reduce(0, +), getpriority(which, 0)) } } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 50)
        #expect(results.allSatisfy { $0.1 == $0.0 * ($0.0 + 1) / 2 })
        #expect(results.allSatisfy { $0.2 == min(mine + 5, 19) })
    }
}

extension FileMapping {
    /// Bytes of the mapping resident in this process (from /proc/self/smaps; nil where there is none).
    var residentBytes: Int? {
        guard let f = FileHandle(forReadingAtPath: "/proc/self/smaps"), let data = try? f.readToEnd() else { return nil }
        try? f.close()
        let smaps = String(decoding: data, as: UTF8.self)
        let address = UInt(bitPattern: base)
        var inside = false
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let from = UInt(line[..<dash], radix: 16),
               let space = line.firstIndex(of: " "), let to = UInt(line[line.index(after: dash)..<space], radix: 16) {
                inside = from <= address && address < to
            } else if inside, line.hasPrefix("Rss:") {
                return Int(line.dropFirst(4).split(separator: " ")[0]).map { $0 * 1024 }
            }
        }
        return nil
    }
}
