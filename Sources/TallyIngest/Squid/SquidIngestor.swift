import Foundation
import Logging
import TallyCore
import TallyStore

/// Loads Squid access-log files (plain or gzip-compressed) into a store, decoding on every core.
///
/// A file is read as a stream (never whole into memory), cut into chunks of complete lines
/// that are metered in parallel and folded, in order, into 15-minute cells. The cells of a file
/// are committed in one transaction at its end, so a file that fails half way (a corrupt gzip
/// stream) commits nothing; only a file with more than `commitCells` distinct cells is committed
/// in several transactions, each while the next cells are metered. An unterminated last line is
/// counted as malformed, never metered.
public struct SquidIngestor: Sendable {
    public let store: any UsageStore
    public let meter: SquidMeter
    public let now: Int64
    public let logger: Logger
    /// Bytes per chunk handed to one core.
    public var chunkBytes = 4 << 20
    /// Distinct cells held before an intermediate commit.
    public var commitCells = 500_000

    public init(store: any UsageStore, meter: SquidMeter, now: Int64, logger: Logger) {
        self.store = store
        self.meter = meter
        self.now = now
        self.logger = logger
    }

    /// Reads and commits one file; `progress` gets (bytes read, file size) for plain files.
    public func ingest(path: String, progress: @Sendable (Int64, Int64) -> Void = { _, _ in }) async throws -> SquidTally {
        let source = try LogSource(path: path)
        defer { source.close() }
        var total = SquidTally()
        // At most one commit runs while the next cells are metered.
        var inflight: Task<Void, any Error>?
        do {
            try await meter(source, into: &total, inflight: &inflight, progress: progress)
            try source.finish()
            inflight = try await startCommit(&total, after: inflight)
            try await inflight?.value
        } catch {
            _ = try? await inflight?.value
            throw error
        }
        return total
    }

    private func meter(_ source: LogSource, into total: inout SquidTally, inflight: inout Task<Void, any Error>?,
                       progress: @Sendable (Int64, Int64) -> Void) async throws {
        let m = meter
        let t = now
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var reader = LineChunkReader(fd: source.fd)
        try await withThrowingTaskGroup(of: (Int, SquidTally).self) { group in
            var results: [Int: SquidTally] = [:]
            var launched = 0
            var merged = 0
            // Cells of the last merged chunk: the next chunk's table starts that large, not regrown from empty.
            var chunkCells = 0
            func launch() throws {
                guard let chunk = try reader.next(size: chunkBytes) else { return }
                let index = launched
                let reserve = chunkCells
                group.addTask {
                    var tally = SquidTally()
                    tally.cellTable.cells.reserveCapacity(reserve)
                    chunk.bytes.withUnsafeBytes { m.meter($0, into: &tally, firstLine: 1, firstOffset: chunk.offset, now: t) }
                    return (index, tally)
                }
                launched += 1
            }
            for _ in 0..<(cores + 1) { try launch() }
            while let (i, tally) = try await group.next() {
                results[i] = tally
                while let next = results.removeValue(forKey: merged) {
                    chunkCells = next.cellCount
                    try total.merge(next, lineOffset: Int64(total.lines))
                    merged += 1
                    if total.cellCount >= commitCells { inflight = try await startCommit(&total, after: inflight) }
                    if !source.compressed { progress(reader.offset, source.size) }
                    try launch()
                }
            }
        }
        if let rest = reader.unterminated {
            total.lines += 1
            total.malformed("unterminated last line (\(rest.count) bytes)", line: Int64(total.lines), offset: reader.offset)
        }
    }

    /// Waits for the previous commit, then starts committing the cells of `tally` (and forgets them).
    ///
    /// The cells become event columns in the commit's task, so that work overlaps the metering
    /// and merging of the next cells.
    private func startCommit(_ tally: inout SquidTally, after previous: Task<Void, any Error>?) async throws -> Task<Void, any Error>? {
        try await previous?.value
        let cells = tally.takeCells()
        guard !cells.cells.isEmpty else { return nil }
        let (store, meter, now, logger, lines) = (store, meter, now, logger, tally.lines)
        return Task {
            let started = ContinuousClock.now
            let columns = try meter.columns(cells)
            _ = try await store.commit(IngestBatch(columns: columns, receivedAt: now), dedupWindow: 0)
            logger.debug("committed", metadata: ["ingest.cells": "\(columns.count)", "ingest.lines": "\(lines)",
                                                 "ingest.commit_duration": "\(ContinuousClock.now - started)"])
        }
    }
}

/// An open log file, or the output of `gzip -dc` for a gzip-compressed one (told by its magic
/// bytes, not its name).
final class LogSource {
    let fd: Int32
    let size: Int64
    let compressed: Bool
    private let path: String
    private var process: Process?
    private var errors: Pipe?
    private var fileFD: Int32 = -1

    init(path: String) throws {
        self.path = path
        let f = open(path, O_RDONLY | O_CLOEXEC)
        guard f >= 0 else { throw IngestError("cannot read \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        fstat(f, &st)
        size = Int64(st.st_size)
        var magic: [UInt8] = [0, 0]
        let n = pread(f, &magic, 2, 0)
        compressed = n == 2 && magic == [0x1F, 0x8B]
        guard compressed else {
            fd = f
            fileFD = f
            return
        }
        closeFile(f)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-dc", "--", path]
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do {
            try p.run()
        } catch {
            throw IngestError("cannot run gzip -dc for \(path): \(error)")
        }
        process = p
        errors = err
        fd = out.fileHandleForReading.fileDescriptor
    }

    /// Fails when the decompressor did not end cleanly (a truncated or corrupt file).
    func finish() throws {
        guard let p = process else { return }
        p.waitUntilExit()
        let message = errors.map { String(decoding: $0.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) } ?? ""
        process = nil
        if p.terminationStatus != 0 {
            let detail = message.trimmingCharacters(in: .whitespacesAndNewlines)
            throw IngestError("\(path): gzip -dc failed (exit \(p.terminationStatus))\(detail.isEmpty ? "" : ": " + detail)")
        }
    }

    func close() {
        if fileFD >= 0 {
            closeFile(fileFD)
            fileFD = -1
        }
        if let p = process, p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        process = nil
    }
}

private func closeFile(_ fd: Int32) { _ = close(fd) }

/// Cuts a byte stream into chunks that end at a line end.
struct LineChunkReader {
    let fd: Int32
    /// Bytes of the stream consumed so far (chunks handed out).
    private(set) var offset: Int64 = 0
    /// The bytes after the last newline, once the stream ended with them.
    private(set) var unterminated: [UInt8]?
    private var carry: [UInt8] = []
    private var ended = false

    init(fd: Int32) { self.fd = fd }

    /// The next chunk of about `size` bytes ending with `\n`, with its stream offset; nil at the end.
    ///
    /// A run of more than `size` bytes without a newline is handed out as it is (it decodes as
    /// a malformed line), so memory stays bounded whatever the input.
    mutating func next(size: Int) throws -> (bytes: [UInt8], offset: Int64)? {
        while !ended {
            let start = carry.count
            var readError: Int32 = 0
            var buffer = [UInt8](unsafeUninitializedCapacity: start + max(size, 1)) { raw, initialized in
                let base = UnsafeMutableRawPointer(raw.baseAddress!)
                if start > 0 { carry.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: start) } }
                var filled = start
                while filled < raw.count {
                    let n = read(fd, base + filled, raw.count - filled)
                    if n < 0 {
                        if errno == EINTR { continue }
                        readError = errno
                        break
                    }
                    if n == 0 {
                        ended = true
                        break
                    }
                    filled += n
                }
                initialized = filled
            }
            carry = []
            if readError != 0 { throw IngestError("read failed: \(String(cString: strerror(readError)))") }
            let want = max(size, 1)
            var cut = buffer.count
            while cut > start, buffer[cut - 1] != 10 { cut -= 1 }
            if cut == start { cut = 0 }  // the carried bytes hold no newline either
            if cut == 0 && !ended && buffer.count >= want { cut = buffer.count }
            if ended && cut < buffer.count {
                unterminated = Array(buffer[cut...])
            } else {
                carry = Array(buffer[cut...])
            }
            buffer.removeLast(buffer.count - cut)
            if !buffer.isEmpty {
                let at = offset
                offset += Int64(buffer.count)
                return (buffer, at)
            }
        }
        return nil
    }
}
