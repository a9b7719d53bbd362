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

/// Loads files of events straight into a store, in batches, decoding on every core.
///
/// Lines that fail validation are skipped and reported (with file and line) in the summary;
/// everything valid is committed. Events with ids are deduplicated, so rerunning a file
/// with ids counts nothing twice.
public struct FileIngestor: Sendable {
    public let store: any UsageStore
    public let validator: EventValidator
    public let dedupWindow: Int64
    public let now: Int64
    /// Lines per decode chunk (one chunk per core at a time), and events per commit.
    public var chunkLines = 65_536
    public var commitEvents = 262_144

    public init(store: any UsageStore, validator: EventValidator, dedupWindow: Int64, now: Int64) {
        self.store = store
        self.validator = validator
        self.dedupWindow = dedupWindow
        self.now = now
    }

    /// Reads `path` and commits its events; `progress` gets (bytes done, bytes total).
    public func ingest(path: String, format: FileFormat, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> IngestSummary {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError("cannot read \(path)")
        }
        var summary = IngestSummary()
        if format == .csv {
            let decoded = EventDecoder.csv(String(decoding: data, as: UTF8.self), validator: validator)
            summary.lines = decoded.events.count + decoded.problems.count
            try await commit(decoded, path: path, into: &summary)
            progress(data.count, data.count)
            return summary
        }
        // Split at line boundaries into chunks, decode chunks in parallel, commit in order.
        let chunks: [(Range<Int>, Int)] = data.withUnsafeBytes { raw in
            var out: [(Range<Int>, Int)] = []
            var start = 0
            var line = 1
            var count = 0
            for i in 0..<raw.count where raw[i] == 10 {
                count += 1
                if count == chunkLines {
                    out.append((start..<(i + 1), line))
                    line += count
                    count = 0
                    start = i + 1
                }
            }
            if start < raw.count { out.append((start..<raw.count, line)) }
            return out
        }
        let v = validator
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var pending = DecodedBatch()
        var next = 0
        try await withThrowingTaskGroup(of: (Int, DecodedBatch).self) { group in
            var results: [Int: DecodedBatch] = [:]
            var launched = 0
            func launch() {
                guard launched < chunks.count else { return }
                let (range, firstLine) = chunks[launched]
                let index = launched
                let slice = data.subdata(in: range)
                group.addTask {
                    let d = slice.withUnsafeBytes { raw in
                        let b = raw.bindMemory(to: UInt8.self)
                        return format == .cloudevents ? EventDecoder.cloudEvents(b, validator: v, firstLine: firstLine) : EventDecoder.native(b, validator: v, firstLine: firstLine)
                    }
                    return (index, d)
                }
                launched += 1
            }
            for _ in 0..<(cores + 1) { launch() }
            while let (i, d) = try await group.next() {
                results[i] = d
                while let d = results.removeValue(forKey: next) {
                    pending.events += d.events
                    pending.problems += d.problems
                    summary.lines += d.events.count + d.problems.count
                    if pending.events.count >= commitEvents {
                        try await commit(pending, path: path, into: &summary)
                        pending = DecodedBatch()
                    }
                    progress(chunks[next].0.upperBound, data.count)
                    next += 1
                    launch()
                }
            }
        }
        try await commit(pending, path: path, into: &summary)
        return summary
    }

    private func commit(_ d: DecodedBatch, path: String, into summary: inout IngestSummary) async throws {
        summary.rejected += d.problems.count
        for p in d.problems.prefix(max(0, 100 - summary.problems.count)) { summary.problems.append("\(path):\(p.line): \(p.message)") }
        guard !d.events.isEmpty else { return }
        let receipt = try await store.commit(IngestBatch(events: d.events, receivedAt: now), dedupWindow: dedupWindow)
        summary.add(receipt)
    }
}

public struct IngestError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ d: String) { description = d }
}
