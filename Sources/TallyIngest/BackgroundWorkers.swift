import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Threads that run bulk work (decoding a file's blocks) at a lower scheduling priority than
/// the rest of the process, so the serial work that follows it (preparing batches, the store's
/// writer) runs as soon as it can and the work that can wait fills the idle cores.
///
/// Decoding in the cooperative task pool instead ties up its threads for the length of a block:
/// the loop that hands decoded blocks to the store then waits for a decode to end, and the
/// store's writer falls behind until the decoding is over.
final class BackgroundWorkers: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false

    /// Starts `count` threads, each `niceness` steps below the process's priority (Linux nice
    /// values are per thread; raising one's own needs no privilege).
    init(count: Int, niceness: Int32 = 10) {
        for _ in 0..<max(1, count) {
            let thread = Thread { [self] in
                #if os(Linux)
                // `who` 0 is the calling thread on Linux.
                let which = __priority_which_t(PRIO_PROCESS.rawValue)
                _ = setpriority(which, 0, getpriority(which, 0) + niceness)
                #endif
                work()
            }
            thread.name = "tally.decode"
            thread.start()
        }
    }

    /// Runs `body` on one of the threads and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            condition.lock()
            jobs.append { continuation.resume(returning: body()) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the threads end once the queued jobs are done.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    deinit { stop() }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
