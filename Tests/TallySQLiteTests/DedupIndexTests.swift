import TallyStore
import Testing

@testable import TallySQLite

/// `DedupIndex`, the flat in-memory table of accepted dedup keys, checked against a plain
/// dictionary model through growth, rollbacks, reloads and collection.
@Suite("DedupIndex")
struct DedupIndexTests {
    static func key(_ i: Int) -> DedupKey { DedupKey(source: "s", id: "e\(i)") }


    @Test func admitsOnceInsideTheWindowAndAgainAfterIt() {
        var index = DedupIndex()
        do { let admitted = index.admit(Self.key(1), at: 100, cutoff: 0); #expect(admitted) }
        do { let admitted = index.admit(Self.key(1), at: 150, cutoff: 50); #expect(!admitted) }
        // Accepted at 100: once the cutoff reaches 100 the key is outside the window.
        do { let admitted = index.admit(Self.key(1), at: 300, cutoff: 100); #expect(admitted) }
        do { let admitted = index.admit(Self.key(1), at: 301, cutoff: 200); #expect(!admitted) }
        // Keys differing only in h2 are different keys (the table compares all 128 bits).
        let k = Self.key(2)
        do { let admitted = index.admit(DedupKey(h1: k.h1, h2: 1), at: 100, cutoff: 0); #expect(admitted) }
        do { let admitted = index.admit(DedupKey(h1: k.h1, h2: 2), at: 100, cutoff: 0); #expect(admitted) }
        do { let admitted = index.admit(DedupKey(h1: k.h1, h2: 1), at: 100, cutoff: 0); #expect(!admitted) }
    }

    @Test func undoTakesBackAdmissionsAcrossGrowth() {
        var index = DedupIndex()
        for i in 0..<1000 { do { let admitted = index.admit(Self.key(i), at: 10, cutoff: 0); #expect(admitted) } }
        index.commit(cutoff: 0)
        let mark = index.mark
        // Far more keys than the first table holds, so the table grows while the journal is open.
        for i in 1000..<20000 { do { let admitted = index.admit(Self.key(i), at: 20, cutoff: 0); #expect(admitted) } }
        do { let admitted = index.admit(Self.key(5), at: 20, cutoff: 10); #expect(admitted) }  // re-admitted after its window
        index.undo(to: mark)
        for i in 0..<1000 { do { let admitted = index.admit(Self.key(i), at: 30, cutoff: 5); #expect(!admitted, "key \(i) was committed before the mark") } }
        index.undo(to: mark)
        for i in 1000..<20000 { do { let admitted = index.admit(Self.key(i), at: 30, cutoff: 0); #expect(admitted, "key \(i) was taken back") } }
    }

    @Test func loadedRunsKeepTheLatestTime() {
        var index = DedupIndex()
        let keys = (0..<5000).map(Self.key)
        let run = DedupIndex.run(keys)
        run.withUnsafeBytes { index.load(run: $0, at: 50) }
        DedupIndex.run(Array(keys.prefix(10))).withUnsafeBytes { index.load(run: $0, at: 40) }
        #expect(index.count == 5000)
        // Loaded at 50 (the older run at 40 does not lower it): a duplicate until the cutoff reaches 50.
        do { let admitted = index.admit(keys[3], at: 60, cutoff: 49); #expect(!admitted) }
        do { let admitted = index.admit(keys[3], at: 60, cutoff: 50); #expect(admitted) }
    }

    @Test func collectionDropsOnlyKeysOutsideTheWindow() {
        var index = DedupIndex()
        let old = (0..<700_000).map(Self.key), recent = (700_000..<1_100_000).map(Self.key)
        for k in old { _ = index.admit(k, at: 10, cutoff: 0) }
        for k in recent { _ = index.admit(k, at: 20, cutoff: 0) }
        index.commit(cutoff: 10)  // past the collection threshold: keys accepted at or before 10 go
        #expect(index.count == recent.count)
        let duplicates = recent.map { index.admit($0, at: 21, cutoff: 10) }.filter { !$0 }.count
        #expect(duplicates == recent.count)
        do { let admitted = index.admit(old[0], at: 21, cutoff: 10); #expect(admitted) }
    }

    /// The admission order holds every event with a key once, and the copies of a key in the
    /// order they came (the first copy is the one admitted).
    @Test func tableOrderKeepsEveryKeyAndCopiesInOrder() {
        let keys: [DedupKey?] = (0..<5_000).map { i in i % 7 == 0 ? nil : Self.key(i % 1_300) }
        let admissions = DedupIndex.tableOrder(keys)
        #expect(admissions.allSatisfy { keys[Int($0.event)] == $0.key })
        let order = admissions.map(\.event)
        #expect(order.count == keys.count(where: { $0 != nil }))
        #expect(Set(order) == Set(keys.indices.filter { keys[$0] != nil }.map { Int32($0) }))
        var last: [DedupKey: Int32] = [:]
        for i in order {
            let k = keys[Int(i)]!
            if let before = last[k] { #expect(before < i, "copies of a key out of order") }
            last[k] = i
        }
        #expect(order != order.sorted(), "the order follows the table, not the batch")
        #expect(DedupIndex.tableOrder([]).isEmpty)
    }
}
