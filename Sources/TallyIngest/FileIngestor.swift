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
/// The file is read in blocks cut at line ends; each block is decoded in a child task into
/// columns, blocks are taken in order (small ones merged) into batches of at least `commitEvents`, and one batch is
/// committed while the next is decoded. Lines that fail validation are skipped and reported
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
        var reader = BlockReader(file: file, blockBytes: blockBytes)
        var pending = EventColumns(metricStride: v.metricStride)
        var committing: Task<IngestReceipt, any Error>?
        var lineBase = 0
        var bytesDone = 0
        try await withThrowingTaskGroup(of: (Int, DecodedBatch, Int).self) { group in
            var results: [Int: (DecodedBatch, Int)] = [:]
            var launched = 0
            var next = 0
            func launch() throws {
                guard let block = try reader.next() else { return }
                let index = launched
                launched += 1
                group.addTask {
                    let d = block.withUnsafeBytes { raw in
                        let b = raw.bindMemory(to: UInt8.self)
                        return cloudEvents ? EventDecoder.cloudEvents(b, validator: v) : EventDecoder.native(b, validator: v)
                    }
                    return (index, d, block.count)
                }
            }
            for _ in 0..<(ProcessInfo.processInfo.activeProcessorCount + 1) { try launch() }
            while let (i, d, size) = try await group.next() {
                results[i] = (d, size)
                while let (d, size) = results.removeValue(forKey: next) {
                    next += 1
                    try launch()
                    summary.lines += d.columns.count + d.problems.count
                    note(d.problems, path: path, lineBase: lineBase, into: &summary)
                    lineBase += d.lines
                    if pending.isEmpty { pending = d.columns } else { pending.append(contentsOf: d.columns) }
                    if pending.count >= commitEvents {
                        if let c = committing { summary.add(try await c.value) }
                        let batch = pending
                        committing = Task { try await commit(batch) }
                        pending = EventColumns(metricStride: v.metricStride)
                    }
                    bytesDone += size
                    progress(bytesDone, total)
                }
            }
        }
        if let c = committing { summary.add(try await c.value) }
        if !pending.isEmpty { summary.add(try await commit(pending)) }
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

/// Reads a file in blocks that end at a line end (the last block may end without one).
struct BlockReader {
    let file: FileHandle
    let blockBytes: Int
    private var carry: [UInt8] = []

    init(file: FileHandle, blockBytes: Int) {
        self.file = file
        self.blockBytes = blockBytes
    }

    /// The next block, or nil at the end of the file.
    mutating func next() throws -> [UInt8]? {
        var block = carry
        carry = []
        while true {
            let have = block.count
            block.append(contentsOf: repeatElement(0, count: blockBytes))
            let n = block.withUnsafeMutableBytes { read(file.fileDescriptor, $0.baseAddress! + have, blockBytes) }
            guard n >= 0 else { throw IngestError("cannot read: \(String(cString: strerror(errno)))") }
            block.removeLast(blockBytes - n)
            if n == 0 { return block.isEmpty ? nil : block }
            if let end = block[have...].lastIndex(of: 10) {
                carry = Array(block[(end + 1)...])
                block.removeLast(block.count - end - 1)
                return block
            }
        }
    }
}

public struct IngestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
