import Foundation
import TallyCore
import TallyStore
import Testing

@testable import TallyIngest

/// The decoders' shortcuts against the long way round: the `...Z` time form against the same
/// instant spelled `+00:00`, plain integers against the same number with a fraction, and the
/// fast path's string scanning (eight bytes at a time) with every special byte at every offset.
@Suite("FastParsing")
struct FastParsingTests {
    static let times = [
        "2026-01-01T10:00:00", "1970-01-01T00:00:00", "2024-02-29T23:59:59", "2026-02-29T00:00:00", "2100-02-29T00:00:00",
        "2000-02-29T12:00:00", "2026-04-31T00:00:00", "2026-12-31T23:59:60", "2026-01-01T24:00:00", "2026-01-01T10:60:00",
        "2026-00-10T10:00:00", "2026-13-10T10:00:00", "2026-01-00T10:00:00", "2026-01-32T10:00:00", "0000-01-01T00:00:00",
        "9999-12-31T23:59:59", "2026-01-01t10:00:00", "2026-01-01 10:00:00", "2026-01-01X10:00:00", "2026/01/01T10:00:00",
        "2026-01-01T10:00/00", "2O26-01-01T10:00:00", "2026-0a-01T10:00:00", "2026-01-01T1 :00:00", "2026-01-01T10:00:0:",
    ]

    /// `Z` (the shortcut) and `+00:00` (the full parser) give the same instant or both refuse.
    @Test(arguments: times)
    func zuluShortcutMatchesTheFullParser(_ time: String) {
        #expect(RFC3339.parse(time + "Z") == RFC3339.parse(time + "+00:00"))
        #expect(RFC3339.parse(time + "Z") == RFC3339.parse(time + "z"))
    }

    @Test func zuluShortcutValues() {
        #expect(RFC3339.parse("2026-01-01T10:00:00Z") == 1_767_261_600)
        #expect(RFC3339.parse("2024-02-29T23:59:60Z") == RFC3339.parse("2024-02-29T23:59:59Z"))
        #expect(RFC3339.parse("2026-01-01T10:00:00.5+05:30") == Int64(1_767_261_600 - 19_800))
        #expect(RFC3339.parse("2026-01-01T10:00:00ZZ") == nil)
        #expect(RFC3339.parse("2026-01-01T10:00:0Z") == nil)
    }

    static let numbers = [
        "0", "7", "000", "0012", "123456789", "999999999999999999", "100000000000000000", "9223372036854775807",
        "9223372036854775808", "99999999999999999999", "18446744073709551616", "1234567890123", "12345678901234",
    ]

    /// A plain integer (the shortcut) and the same number with `.0` (the full parser) agree at every scale.
    @Test(arguments: numbers)
    func plainIntegerShortcutMatchesTheFullParser(_ text: String) {
        for scale in [0, 1, 2, 6, 9, 18] {
            #expect(Exact.parse(text, scale: scale) == Exact.parse(text + ".0", scale: scale), "\(text) at scale \(scale)")
            #expect(Exact.parse(text, scale: scale) == Exact.parse(text + "e0", scale: scale), "\(text) at scale \(scale)")
        }
    }

    @Test func plainIntegerShortcutValues() {
        #expect(Exact.parse("999999999999999999", scale: 0) == .success(999_999_999_999_999_999))
        #expect(Exact.parse("999999999999999999", scale: 1) == .failure(.outOfRange))
        #expect(Exact.parse("9223372036854", scale: 6) == .success(9_223_372_036_854_000_000))
        #expect(Exact.parse("9223372036855", scale: 6) == .failure(.outOfRange))
        #expect(Exact.parse("0", scale: 18) == .success(0))
        #expect(Exact.parse("12", scale: 0, allowNegative: true) == .success(12))
        #expect(Exact.parse("", scale: 0) == .failure(.notANumber))
        #expect(Exact.parse("1a", scale: 0) == .failure(.notANumber))
        #expect(Exact.parse("+5", scale: 0) == .success(5))
    }

    /// Every special byte (quote, backslash, control characters, escapes, invalid UTF-8) at every
    /// offset of a value, in every string field: the fast path and the general path agree.
    @Test func specialBytesAtEveryOffset() {
        let specials: [[UInt8]] = [[0x22], [0x5C, 0x22], [0x5C, 0x6E], [0x5C, 0x75, 0x30, 0x30, 0x34, 0x31], [0x09], [0x00], [0x1F], [0x7F],
                                   [0xC3, 0xBC], [0xFF], [0xE2, 0x82], [0xF0, 0x9F, 0x98, 0x80], [0x20]]
        var raw: [[UInt8]] = []
        for field in ["e1", "gw-1", "acme-sub1", "example.com", "residential", "US"] {
            for special in specials {
                for offset in 0...17 {
                    var bytes = Array(NativeFastPathTests.line.utf8)
                    let value = Array("\"\(field)\"".utf8)
                    let at = bytes.firstRange(of: value)!.lowerBound + 1
                    let padding = Array(String(repeating: "x", count: offset).utf8)
                    bytes.insert(contentsOf: padding + special, at: at)
                    raw.append(bytes)
                }
            }
        }
        let text = raw.reduce(into: [UInt8]()) { out, line in out += line + [10] }
        let v = NativeFastPathTests.validator()
        let (fast, general) = text.withUnsafeBufferPointer { b in
            (EventDecoder.native(b, validator: v), EventDecoder.objects(b, validator: v, firstLine: 1, fast: { _, _, _ in nil }, validate: v.native))
        }
        #expect(fast.events == general.events)
        #expect(fast.problems == general.problems)
        #expect(fast.columns.keys == general.columns.keys)
        #expect(fast.columns.count > 100 && fast.problems.count > 100, "some lines stayed valid, others broke")
    }

    /// Shapes the shortcuts must leave to the general path, or take with the same result.
    @Test(arguments: [
        #"{"id":"a","time":"2026-01-01T10:00:00.5+05:30","account":"acme","product":"residential","metrics":{"bytes":1}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00.999999999Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00.9999999999Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01t10:00:00z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00-00:00","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":9223372036854775807}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":9223372036854775808}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"messaging","metrics":{"cost":9223372036854}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"messaging","metrics":{"cost":9223372036855}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"messaging","metrics":{"cost":1e400}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":1,"bytes":2}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":1,"bytes":-2}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"a\/b"}}"#,
        #"{"id":"a\"b","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","source":"","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"","port":""}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"country":"US","status":"200","hostname":"h","port":"1"}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimens":{}}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensionz":{}}"#,
        #"{"ID":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"a","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":1,"requests":2,"bytes":3,"requests":4,"bytes":5,"requests":6,"bytes":7,"requests":8,"bytes":9,"requests":10,"bytes":11,"requests":12,"bytes":13,"requests":14,"bytes":15,"requests":16,"bytes":17}}"#,
    ])
    func unusualLinesDecodeAlike(_ line: String) {
        NativeFastPathTests.expectSame(line)
        NativeFastPathTests.expectSame([line, NativeFastPathTests.line, line].joined(separator: "\n"))
    }

    /// Accounts that alternate line by line resolve to the right account every time.
    @Test func alternatingAccountsAndSources() {
        let accounts = ["acme", "acme-sub1", "sub1", "01HQ5K3P97DY8EX9Y90YT1K6XA", "other", "nobody", "caf\u{E9}"]
        let text = (0..<70).map { i in
            #"{"id":"e\#(i)","source":"s\#(i % 3)","time":"2026-01-01T10:00:0\#(i % 10)Z","account":"\#(accounts[i % accounts.count])","product":"\#(i % 5 == 0 ? "messaging" : "residential")","metrics":{}}"#
        }.joined(separator: "\n")
        NativeFastPathTests.expectSame(text)
        let (fast, _) = NativeFastPathTests.both(text, NativeFastPathTests.validator())
        #expect(fast.columns.count == 60 && fast.problems.count == 10)
    }

    /// Line ends as the scanner finds them (it does not split lines first): CR LF, stray carriage
    /// returns and spaces, blank lines, an object broken over two lines, no final newline.
    @Test(arguments: ["\n", "\r\n", "\r\r\n", " \r \n", "\n\n", "\n \t\n", "\r", "\n\r\n"])
    func lineEndsDecodeAlike(_ end: String) {
        let line = NativeFastPathTests.line
        NativeFastPathTests.expectSame([line, line, line].joined(separator: end))
        NativeFastPathTests.expectSame(line + end)
        NativeFastPathTests.expectSame(end + line + end + line)
        let broken = line.replacingOccurrences(of: #","time""#, with: "," + end + #""time""#)
        NativeFastPathTests.expectSame([line, broken, line].joined(separator: end))
        let split = line.replacingOccurrences(of: #"{"hostname""#, with: "{" + end + #""hostname""#)
        NativeFastPathTests.expectSame([split, line].joined(separator: end))
    }

    /// A pair 64 KiB or more into its line takes the general path, with the same result.
    @Test func pairsFarIntoALine() {
        for padding in [65_400, 65_500, 65_535, 70_000] {
            let line = NativeFastPathTests.line.replacingOccurrences(of: #","dimensions""#, with: "," + String(repeating: " ", count: padding) + #""dimensions""#)
            NativeFastPathTests.expectSame([line, NativeFastPathTests.line, line].joined(separator: "\n"), "\(padding)")
            let (fast, _) = NativeFastPathTests.both(line, NativeFastPathTests.validator())
            #expect(fast.columns.count == 1, "\(padding)")
        }
    }

    /// The value a field had on the previous line is tried first: a repeat, then a different
    /// value sharing its first 16 bytes, a longer or shorter one, an unknown one, and back.
    @Test func valuesRepeatedFromThePreviousLine() {
        let hosts = ["www.example.com", "www.example.com", "a-rather-long-hostname.example.com", "a-rather-long-hostname.example.org",
                     "a-rather-long-hostname.example.org", "a-rather-long-hostname.example", "a-rather-long-hostname.example.com",
                     "www.example.co", "www.example.com", "", "www.example.com", "www.example.comm"]
        let accounts = ["acme", "acme", "acme-sub1", "acme-sub1", "nobody", "acme-sub1", "sub1", "acme", "acme", "caf\u{E9}", "cafe", "acme"]
        let products = ["residential", "residential", "messaging", "residential", "residentia", "residential", "residential",
                        "residentials", "residential", "messaging", "messaging", "residential"]
        let text = hosts.indices.map { i in
            #"{"id":"e\#(i)","source":"\#(i % 4 == 0 ? "gw-1" : "gw-1x")","time":"2026-01-01T10:00:00Z","account":"\#(accounts[i])","product":"\#(products[i])","dimensions":{"\#(products[i] == "messaging" ? "direction" : "hostname")":"\#(hosts[i])"},"metrics":{}}"#
        }.joined(separator: "\n")
        NativeFastPathTests.expectSame(text)
        let (fast, _) = NativeFastPathTests.both(text, NativeFastPathTests.validator())
        #expect(fast.columns.count == 9 && fast.problems.map(\.line) == [11, 14, 17])
    }
}
