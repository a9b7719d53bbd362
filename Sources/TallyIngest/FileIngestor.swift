import Foundation
import TallyCore
import TallyStore

/// The input formats `tally ingest` reads.
public enum FileFormat: String, Sendable, CaseIterable {
    case native, cloudevents, csv

    /// Guesses from the file name: `.csv` is CSV, `.cloudevents`/`.ce.json` CloudEvents, else native.
    public static func guess(path: String) -> FileFormat {
        let p = path.lowercased()
        if p.hasSuffix(".csv") { return .csv }
        if p.contains("cloudevent") || p.hasSuffix(".ce.json") || p.hasSuffix(".ce.ndjson") { return .cloudevents }
        return .native
    }
}

/// What loading files did, for the summary line.
public struct IngestSummary: Sendable, Equatable {
    public var lines = 0
    public var accepted = 0
    public var duplicates = 0
    public var rejected = 0
    public var problems: [String] = []
    public init() {}

    public mutating func add(_ r: IngestReceipt) {
        accepted += r.accepted
        duplicates += r.duplicates
    }
}

/// Loads files of events straight into a store, decoding on every core while the store commits.
///
/// The file is read in blocks cut at line ends (into reused buffers); each block is decoded into
/// columns on a decode thread of lower priority (`BackgroundWorkers`), blocks are taken in
/// order (small ones merged) into batches of at least `commitEvents` (the ramp's smaller blocks
/// at the start and the end go alone, so the store starts early and has little left once the
/// decoding ends), and up to two batches are committed while the next blocks are decoded, so a
/// store that prepares a batch before its single writer takes it overlaps the two; the
/// preparing and the writing take precedence over decoding, which fills the idle cores. Lines that fail validation are skipped and reported
/// (with file and line) in the summary; everything valid is committed. Events with ids are
/// deduplicated, so rerunning a file with ids counts nothing twice.
public struct FileIngestor: Sendable {
    public let store: any UsageStore
    public let validator: EventValidator
    public let dedupWindow: Int64
    public let now: Int64
    /// Bytes per decode block, and events per commit. A block of native events (about 115,000
    /// of 280 bytes) is committed as decoded, with no merging into a larger batch.
    public var blockBytes = 32 << 20
    public var commitEvents = 100_000

    public init(store: any UsageStore, validator: EventValidator, dedupWindow: Int64, now: Int64) {
        self.store = store
        self.validator = validator
        self.dedupWindow = dedupWindow
        self.now = now
    }

    /// Reads `path` and commits its events; `progress` gets (bytes done, bytes total).
    public func ingest(path: String, format: FileFormat, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> IngestSummary {
        var summary = IngestSummary()
        if format == .csv {
            guard let data = FileManager.default.contents(atPath: path) else { throw IngestError("cannot read \(path)") }
            let decoded = EventDecoder.csv(String(decoding: data, as: UTF8.self), validator: validator)
            summary.lines = decoded.columns.count + decoded.problems.count
            note(decoded.problems, path: path, lineBase: 0, into: &summary)
            if !decoded.columns.isEmpty { summary.add(try await commit(decoded.columns)) }
            progress(data.count, data.count)
            return summary
        }
        guard let file = FileHandle(forReadingAtPath: path) else { throw IngestError("cannot read \(path)") }
        defer { try? file.close() }
        let total = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        let v = validator
        let cloudEvents = format == .cloudevents
        // A native event line is about 280 bytes; a slight underestimate sizes the store's
        // dedup index once, where an overestimate past a power of two would double it.
        store.expect(events: total / 300)
        var reader = BlockReader(file: file, blockBytes: blockBytes)
        var pending = EventColumns(metricStride: v.metricStride)
        // Commits in flight, oldest first, with the keys of their events. A store may prepare a
        // batch on the committing task before queueing it for its single writer, so the next
        // commit starts while one is in flight: its preparation overlaps the writing. Two in
        // flight may queue in either order, which matters only to an event id both have (the
        // first queued counts), so a batch sharing a key with one in flight waits for it.
        var committing: [(task: Task<IngestReceipt, any Error>, keys: KeyFilter)] = []
        func startCommit(_ batch: EventColumns) async throws {
            let keys = KeyFilter(batch.keys)
            while committing.count >= 2 || committing.contains(where: { $0.keys.mayShare(batch.keys) }) {
                summary.add(try await committing.removeFirst().task.value)
            }
            committing.append((Task { try await commit(batch) }, keys))
        }
        var lineBase = 0
        var bytesDone = 0
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let decoders = BackgroundWorkers(count: cores)
        defer { decoders.stop() }
        try await withThrowingTaskGroup(of: (Int, DecodedBatch, Block).self) { group in
            var results: [Int: (DecodedBatch, Int, Bool)] = [:]
            var launched = 0
            var next = 0
            func launch() throws {
                guard let block = try reader.next() else { return }
                let index = launched
                launched += 1
                group.addTask {
                    let d = await decoders.run {
                        let b = block.bytes
                        return cloudEvents ? EventDecoder.cloudEvents(b, validator: v) : EventDecoder.native(b, validator: v)
                    }
                    return (index, d, block)
                }
            }
            for _ in 0..<(cores + 1) { try launch() }
            while let (i, d, block) = try await group.next() {
                results[i] = (d, block.count, block.alone)
                reader.recycle(block)
                while let (d, size, alone) = results.removeValue(forKey: next) {
                    next += 1
                    try launch()
                    summary.lines += d.columns.count + d.problems.count
                    note(d.problems, path: path, lineBase: lineBase, into: &summary)
                    lineBase += d.lines
                    if pending.isEmpty { pending = d.columns } else { pending.append(contentsOf: d.columns) }
                    if pending.count >= commitEvents || alone {
                        try await startCommit(pending)
                        pending = EventColumns(metricStride: v.metricStride)
                    }
                    bytesDone += size
                    progress(bytesDone, total)
                }
            }
        }
        if !pending.isEmpty { try await startCommit(pending) }
        for c in committing { summary.add(try await c.task.value) }
        return summary
    }

    private func commit(_ columns: EventColumns) async throws -> IngestReceipt {
        try await store.commit(IngestBatch(columns: columns, receivedAt: now), dedupWindow: dedupWindow)
    }

    /// Counts rejected lines and keeps the first 100 for the summary, numbered in the whole file.
    private func note(_ problems: [EventProblem], path: String, lineBase: Int, into summary: inout IngestSummary) {
        summary.rejected += problems.count
        for p in problems.prefix(max(0, 100 - summary.problems.count)) { summary.problems.append("\(path):\(p.line + lineBase): \(p.message)") }
    }
}

/// Which dedup keys a batch holds, told by the first half of each key in a flat open-addressing
/// table (a `Set<DedupKey>` spends most of its time seeding its hasher). Two different keys
/// with equal halves only make a batch wait for another, never change what is counted.
struct KeyFilter {
    private var slots: [UInt64]
    private let mask: Int

    init(_ keys: [DedupKey?]) {
        var n = 16
        while n < keys.count * 2 { n <<= 1 }
        slots = [UInt64](repeating: 0, count: n)
        mask = n - 1
        let m = mask
        slots.withUnsafeMutableBufferPointer { s in
            for case let k? in keys {
                let v = k.h1 | 1  // 0 marks a free slot
                var i = Int(truncatingIfNeeded: v >> 1) & m
                while s[i] != 0 && s[i] != v { i = (i + 1) & m }
                s[i] = v
            }
        }
    }

    /// Whether some key of `keys` may be in this batch.
    func mayShare(_ keys: [DedupKey?]) -> Bool {
        slots.withUnsafeBufferPointer { s in
            keys.contains { k in
                guard let k else { return false }
                let v = k.h1 | 1
                var i = Int(truncatingIfNeeded: v >> 1) & mask
                while s[i] != 0 {
                    if s[i] == v { return true }
                    i = (i + 1) & mask
                }
                return false
            }
        }
    }
}

/// Reads a file in blocks that end at a line end (the last block may end without one).
///
/// A regular file is mapped into memory and its blocks are views of the mapping: no copy, and
/// no buffer to fault in (together about a tenth of the CPU time of loading a file); it is read
/// as it was when opened. Anything else (a pipe, a terminal, a file that cannot be mapped) is
/// read into buffers that are handed back once decoded, so no block is allocated and zero-filled anew.
struct BlockReader {
    let file: FileHandle
    let blockBytes: Int
    private var carry: [UInt8] = []
    private var spare: [Block] = []
    private var produced = 0
    /// The file's size when opened (a guess when it has none), and the bytes taken so far.
    private let size: Int
    private var offset = 0
    let mapping: FileMapping?
    static let rampBlocks = 3

    init(file: FileHandle, blockBytes: Int, map: Bool = true) {
        self.file = file
        self.blockBytes = blockBytes
        var st = stat()
        let regular = fstat(file.fileDescriptor, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
        size = regular ? Int(st.st_size) : Int.max / 4
        mapping = map && regular ? FileMapping(file.fileDescriptor, size: size) : nil
    }

    /// The next block, or nil at the end of the file.
    ///
    /// The first blocks ramp up (an eighth, a quarter, a half of `blockBytes`), so that the first
    /// commits, and with them the store's writer, start after a short decode rather than a full
    /// block's; the last ones ramp down (each at most half of what is left, down to an eighth),
    /// so that what is left to prepare and write once the decoding is over is small.
    mutating func next() throws -> Block? {
        let smallest = max(blockBytes >> BlockReader.rampBlocks, 1)
        var limit = max(blockBytes >> max(0, BlockReader.rampBlocks - produced), 1)
        let left = size - offset + carry.count
        if left < 2 * blockBytes { limit = min(limit, max(left / 2, smallest)) }
        produced += 1
        let alone = produced <= BlockReader.rampBlocks || left < 2 * blockBytes
        if let mapping {
            guard offset < size else { return nil }
            let end = mapping.lineEnd(from: offset, limit: limit)
            let block = Block(in: mapping, at: offset, count: end - offset)
            block.alone = alone
            offset = end
            return block
        }
        let block = spare.popLast() ?? Block(capacity: limit)
        block.count = 0
        block.alone = alone
        while limit <= carry.count { limit *= 2 }  // room for the carried part and more
        while block.capacity < limit { block.grow() }
        block.count = carry.count
        carry.withUnsafeBytes { if $0.count > 0 { block.base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        carry.removeAll(keepingCapacity: true)
        while true {
            if block.count == limit {  // a line longer than a block
                limit *= 2
                while block.capacity < limit { block.grow() }
            }
            let have = block.count
            let n = read(file.fileDescriptor, block.base + have, limit - have)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw IngestError("cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 {
                if block.count > 0 { return block }
                spare.append(block)
                return nil
            }
            block.count += n
            offset += n
            let bytes = block.bytes
            if let end = bytes[have...].lastIndex(of: 10) {
                carry.append(contentsOf: bytes[(end + 1)...])
                block.count = end + 1
                return block
            }
        }
    }

    /// Takes back a block whose bytes are no longer needed.
    mutating func recycle(_ block: Block) {
        if let mapping = block.mapping { mapping.release(block) } else { spare.append(block) }
    }
}

/// A regular file mapped read-only, unmapped when the last block viewing it is gone.
///
/// Should the file shrink while mapped, touching a page past its new end raises SIGBUS: the
/// process then ends with a message saying so (committed batches are kept) rather than a crash.
final class FileMapping: @unchecked Sendable {
    let base: UnsafePointer<UInt8>
    let size: Int

    init?(_ fd: Int32, size: Int) {
        guard size > 0, let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else { return nil }
        FileMapping.endOnBusError
        base = UnsafePointer(m.assumingMemoryBound(to: UInt8.self))
        self.size = size
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// Drops the whole pages of a decoded block from this process's memory. They stay in the
    /// page cache (touching one again reads it back), but a file of gigabytes no longer shows as
    /// gigabytes of resident memory once loaded. A page shared with a neighbouring block is kept.
    func release(_ block: Block) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = block.base - UnsafeMutableRawPointer(mutating: base)
        let end = start + block.count
        let from = (start + page - 1) / page * page
        let to = end == size ? (end + page - 1) / page * page : end / page * page
        if to > from { madvise(UnsafeMutableRawPointer(mutating: base) + from, to - from, MADV_DONTNEED) }
    }

    /// Where a block starting at `start` of at most `limit` bytes ends: after its last line end,
    /// or after the first one when a line is longer than `limit`, or at the end of the file.
    func lineEnd(from start: Int, limit: Int) -> Int {
        let end = min(start + limit, size)
        if end == size { return size }
        let bytes = UnsafeBufferPointer(start: base, count: size)
        if let r = bytes[start..<end].lastIndex(of: 10) { return r + 1 }
        return bytes[end...].firstIndex(of: 10).map { $0 + 1 } ?? size
    }

    private static let endOnBusError: Void = {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            let message: StaticString = "tally: an input file shrank while it was being loaded; the batches committed before are kept (load it again: events with ids are not counted twice)\n"
            _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(1)
        }
        sigaction(SIGBUS, &action, nil)
    }()
}

/// A buffer of file bytes, owned by one task at a time: the reader fills it, one decode task
/// reads it, then it goes back to the reader (hence `@unchecked Sendable`).
final class Block: @unchecked Sendable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0
    /// A ramp block (at the start or the end of the file): committed alone, not merged into a batch.
    var alone = false

    /// The mapped file this block is a view of (nil: the block owns its buffer).
    let mapping: FileMapping?

    init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
        mapping = nil
    }

    init(in mapping: FileMapping, at offset: Int, count: Int) {
        base = UnsafeMutableRawPointer(mutating: mapping.base + offset)
        capacity = count
        self.count = count
        self.mapping = mapping
    }

    deinit { if mapping == nil { base.deallocate() } }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count) }

    /// Doubles the capacity, keeping the bytes.
    func grow() {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 16)
        bigger.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = bigger
        capacity *= 2
    }
}

public struct IngestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
