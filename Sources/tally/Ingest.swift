import ArgumentParser
import Foundation
import TallyCore
import TallyIngest
import TallyServer
import TallyStore

struct Ingest: AsyncParsableCommand {
    /// Has malloc keep freed memory for reuse instead of returning it to the system: a bulk load
    /// allocates and frees large column buffers batch after batch, and memory handed back is
    /// faulted in page by page again next time (about 40% of this command's page faults).
    static func keepFreedMemory() {
        #if os(Linux)
        // glibc's mallopt (<malloc.h>, which the Glibc module does not export) and its parameters.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }  // RTLD_DEFAULT
        let mallopt = unsafeBitCast(f, to: Mallopt.self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3
        _ = mallopt(mmapThreshold, 32 << 20)  // the largest allowed: larger buffers are still mapped
        _ = mallopt(trimThreshold, Int32.max)
        _ = mallopt(topPad, 64 << 20)
        #endif
    }

    static let configuration = CommandConfiguration(abstract: "Load usage files (native NDJSON, CloudEvents, CSV, or Squid access logs, plain or gzip) straight into the store.")

    @OptionGroup var common: CommonOptions

    @Option(help: "native, cloudevents, csv or squid (default: guessed from each file name; squid is never guessed).")
    var format: String?

    @OptionGroup var squid: SquidOptions

    @Argument(help: "Files to load.")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file") }
        if let format, format != "squid", FileFormat(rawValue: format) == nil {
            throw ValidationError("--format must be one of: \(FileFormat.allCases.map(\.rawValue).joined(separator: ", ")), squid")
        }
    }

    func run() async throws {
        Ingest.keepFreedMemory()
        if format == "squid" { return try await squid.ingest(files: files, common: common) }
        let logger = common.logger("tally.ingest")
        let config = try common.load()
        let store = try await TallyRuntime.openStore(config, logger: logger)
        let t = now()
        let accounts = try await TallyRuntime.accountDirectory(config, logger: logger)
        let validator = EventValidator(catalog: config.products, accounts: accounts, maxFuture: config.ingest.maxFuture, scope: nil, now: t)
        let ingestor = FileIngestor(store: store, validator: validator, dedupWindow: config.ingest.dedupWindow, now: t)
        let started = Date()
        var total = IngestSummary()
        let bar = ProgressBar()
        for file in files {
            let s = try await ingestor.ingest(path: file, format: format.flatMap(FileFormat.init) ?? FileFormat.guess(path: file)) { done, all in
                bar.show(file: file, done: done, total: all)
            }
            bar.clear()
            total.lines += s.lines
            total.accepted += s.accepted
            total.duplicates += s.duplicates
            total.rejected += s.rejected
            total.problems += s.problems
        }
        try await store.close()
        for p in total.problems { FileHandle.standardError.write(Data((p + "\n").utf8)) }
        let secs = max(Date().timeIntervalSince(started), 0.000_001)
        print("ingested \(files.count) file(s): \(total.lines) lines, \(total.accepted) accepted, \(total.duplicates) duplicates, \(total.rejected) rejected in \(String(format: "%.2f", secs)) s (\(Int(Double(total.lines) / secs)) lines/s)")
        if total.rejected > 0 { throw ExitCode(1) }
    }
}

/// A one-line progress bar on standard error, drawn only on a terminal.
final class ProgressBar: @unchecked Sendable {
    let enabled = isatty(2) == 1
    let lock = NSLock()
    func show(file: String, done: Int, total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] \(done * 100 / total)% \(file)"
        lock.withLock { FileHandle.standardError.write(Data(line.utf8)) }
    }
    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
