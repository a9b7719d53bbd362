import Testing

@testable import TallyStore

@Suite("ByteStringTable")
struct ByteStringTableTests {
    static let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
    /// "", an NFC/NFD pair (equal as Strings, different bytes), and enough names to grow the
    /// slots from 16 to 16,384.
    static let texts = ["", nfc, nfd] + (0..<5000).map { "site\($0).example.net" }

    /// One number per distinct byte sequence, the same whether looked up by String or by bytes,
    /// kept across the table's growth; case is kept apart.
    @Test func stringsAreNumberedByTheirExactBytes() {
        var strings = ByteStringTable()
        for (i, text) in Self.texts.enumerated() { #expect(strings.intern(text) == Int32(i)) }
        #expect(strings.count == Self.texts.count)
        for (i, text) in Self.texts.enumerated().reversed() {
            let n = Int32(i)
            #expect(Array(text.utf8).withUnsafeBytes { strings.intern($0) } == n)
            #expect(Array(strings.string(n).utf8) == Array(text.utf8))
            #expect(strings.withBytes(of: n) { Array($0) } == Array(text.utf8))
        }
        #expect(Array("SITE7.example.net".utf8).withUnsafeBytes { strings.intern($0) } == Int32(Self.texts.count))
        #expect(strings.intern("site7.example.net") == 10)
        #expect(strings.count == Self.texts.count + 1)
    }

    /// An empty buffer without a base address is the empty string, like `""`.
    @Test func anEmptyBufferIsTheEmptyString() {
        var strings = ByteStringTable()
        #expect(strings.intern("x") == 0)
        #expect(strings.intern(UnsafeRawBufferPointer(start: nil, count: 0)) == 1)
        #expect(strings.intern("") == 1)
        #expect(strings.string(1) == "")
        #expect(strings.count == 2)
    }

    /// Merging numbers every string of another table here, adding only the new ones.
    @Test func anotherTablesStringsAreNumberedHere() {
        var a = ByteStringTable(), b = ByteStringTable()
        for t in ["b.example", Self.nfd, "a.example"] { _ = a.intern(t) }
        for t in ["a.example", Self.nfc, Self.nfd, "c.example", ""] { _ = b.intern(t) }
        #expect(a.intern(contentsOf: b) == [2, 3, 1, 4, 5])
        #expect((0..<Int32(a.count)).map { Array(a.string($0).utf8) }
            == ["b.example", Self.nfd, "a.example", Self.nfc, "c.example", ""].map { Array($0.utf8) })
        #expect(a.intern(contentsOf: ByteStringTable()) == [])
    }

    /// Order by bytes: a prefix first, upper case before lower case, NFD ("e" + U+0301) before NFC (U+00E9).
    @Test func stringsSortByTheirBytes() {
        var strings = ByteStringTable()
        let texts = ["site", "", "Site", "site2", Self.nfc, Self.nfd, "caf"]
        for t in texts { _ = strings.intern(t) }
        let sorted = (0..<Int32(strings.count)).sorted { strings.precedes($0, $1) }.map { Array(strings.string($0).utf8) }
        #expect(sorted == ["", "Site", "caf", Self.nfd, Self.nfc, "site", "site2"].map { Array($0.utf8) })
        #expect(!strings.precedes(0, 0))
    }
}
