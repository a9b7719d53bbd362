import Foundation
import TallyCore
import TallyStore
import Testing

@testable import TallyIngest

/// The native fast path against the general path (`JSONParser` + `EventValidator.native`) on
/// the same lines: every line must give the same event or the same problem, whichever path
/// takes it.
@Suite("NativeFastPath")
struct NativeFastPathTests {
    static let catalog = ProductCatalog([
        ProductSpec(name: "residential", dimensions: ["hostname", "port", "country", "status"],
                    metrics: [MetricSpec(name: "bytes", kind: .integer), MetricSpec(name: "requests", kind: .integer)]),
        ProductSpec(name: "messaging", dimensions: ["direction", "currency"],
                    metrics: [MetricSpec(name: "cost", kind: .decimal(scale: 6)), MetricSpec(name: "parts", kind: .integer), MetricSpec(name: "count", kind: .integer)]),
    ])
    static let accounts = AccountDirectory([
        Account(id: "acme", hash: "01HQ5K3P97DY8EX9Y90YT1K6XA", username: "acme-login"),
        Account(id: "acme-sub1", username: "sub1", parentID: "acme"),
        Account(id: "other"),
        Account(id: "caf\u{E9}"),
    ])
    static let now: Int64 = 1_767_225_600 + 30 * 86_400

    static func validator(scope: String? = nil) -> EventValidator {
        EventValidator(catalog: catalog, accounts: accounts, maxFuture: 900, scope: scope, now: now)
    }

    /// Decodes `text` with the fast path on, and with only the general path.
    static func both(_ text: String, _ v: EventValidator) -> (fast: DecodedBatch, general: DecodedBatch) {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { b in
            (EventDecoder.native(b, validator: v, firstLine: 7),
             EventDecoder.objects(b, validator: v, firstLine: 7, fast: { _, _, _ in nil }, validate: v.native))
        }
    }

    static func expectSame(_ text: String, scope: String? = nil, _ comment: Comment? = nil) {
        let (fast, general) = both(text, validator(scope: scope))
        #expect(fast.events == general.events, comment)
        #expect(fast.problems == general.problems, comment)
        #expect(fast.columns.keys == general.columns.keys, comment)
        #expect(fast.lines == general.lines, comment)
    }

    static let line = #"{"id":"e1","source":"gw-1","time":"2026-01-01T10:00:00Z","account":"acme-sub1","product":"residential","dimensions":{"hostname":"example.com","port":"443","country":"US","status":"200"},"metrics":{"bytes":2150000,"requests":3}}"#

    /// Lines that are valid, invalid in every way the validator knows, or only unusual in shape.
    static let cases: [String] = [
        line,
        #"{"time":"2026-01-01T10:00:00Z","account":"sub1","product":"residential","metrics":{"bytes":1}}"#,
        #" { "product" : "residential" , "account" : "01HQ5K3P97DY8EX9Y90YT1K6XA", "time" : "2026-01-01T10:00:00+02:00", "metrics" : { } , "dimensions" : { } } "#,
        #"{"id":42,"source":7,"time":"2026-01-01T10:00:00.123Z","account":"acme","product":"messaging","dimensions":{"direction":"inbound","currency":"USD"},"metrics":{"cost":"0.0008","parts":2,"count":1e0}}"#,
        #"{"id":"e2","time":"2026-01-01T10:00:00Z","account":"acme","product":"messaging","metrics":{"cost":0.0000001}}"#,
        #"{"id":"e3","time":"2026-01-01T10:00:00Z","account":"acme","product":"messaging","metrics":{"cost":1.5e-3,"parts":-1}}"#,
        #"{"id":"","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"e4","time":"2026-13-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"e5","time":"2036-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"e6","time":"1969-12-31T23:59:59Z","account":"acme","product":"residential"}"#,
        #"{"id":"e7","time":"2026-01-01T10:00:00Z","account":"nobody","product":"residential"}"#,
        #"{"id":"e8","time":"2026-01-01T10:00:00Z","account":"acme","product":"nothing"}"#,
        #"{"id":"e9","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"planet":"mars"}}"#,
        #"{"id":"e10","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"joules":1}}"#,
        #"{"id":"e11","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":1.5}}"#,
        #"{"id":"e12","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":99999999999999999999}}"#,
        #"{"id":"e13","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"port":443,"status":true,"country":false}}"#,
        #"{"id":"e14","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"port":null}}"#,
        #"{"id":"e15","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"a","hostname":"b"}}"#,
        #"{"id":"e16","id":"e17","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"e\u0031\n8","source":"s\"q","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"\u00fc"}}"#,
        #"{"id":"e19","time":"2026-01-01T10:00:00Z","account":"caf\u00e9","product":"residential","dimensions":{"hostname":"zürich","country":"cafe\u0301"}}"#,
        "{\"id\":\"e20\",\"time\":\"2026-01-01T10:00:00Z\",\"account\":\"cafe\u{301}\",\"product\":\"residential\",\"dimensions\":{\"hostname\":\"cafe\u{301}\"}}",
        #"{"id":"e21","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","extra":1}"#,
        #"{"id":"e22","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"} x"#,
        #"{"id":"e23","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential""#,
        #"{"id":"e24","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":01}}"#,
        #"{"id":"e25","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":"12"}}"#,
        #"{"id":"e26","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","metrics":{"bytes":"1 2"}}"#,
        #"{"id":"e27","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":[]}"#,
        #"{"id":true,"time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"e28","time":20260101,"account":"acme","product":"residential"}"#,
        #"{"id":"e29","account":"acme","product":"residential"}"#,
        #"{"id":"e30","time":"2026-01-01T10:00:00Z","product":"residential"}"#,
        #"{"id":"e31","time":"2026-01-01T10:00:00Z","account":"acme"}"#,
        #"{}"#, #"[]"#, #"null"#, #"{"#, "\t ",
        #"{"id":"\#(String(repeating: "x", count: 257))","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential"}"#,
        #"{"id":"\#(String(repeating: "x", count: 256))","source":"\#(String(repeating: "y", count: 256))","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"\#(String(repeating: "z", count: 256))"}}"#,
        #"{"id":"e32","time":"2026-01-01T10:00:00Z","account":"acme","product":"residential","dimensions":{"hostname":"\#(String(repeating: "z", count: 257))"}}"#,
    ]

    @Test(arguments: cases)
    func sameAsTheGeneralPath(_ line: String) {
        Self.expectSame(line)
        Self.expectSame(line + "\r\n" + line + "\n\n" + line)
    }

    /// An account token's scope: other accounts are unknown on both paths.
    @Test func scopeAppliesOnBothPaths() {
        let text = [Self.line, Self.line.replacingOccurrences(of: "acme-sub1", with: "other"), Self.line.replacingOccurrences(of: "acme-sub1", with: "acme")].joined(separator: "\n")
        Self.expectSame(text, scope: "acme-sub1")
        let (fast, _) = Self.both(text, Self.validator(scope: "acme-sub1"))
        #expect(fast.columns.count == 1)
        #expect(fast.problems.map(\.line) == [8, 9])
    }

    /// Invalid UTF-8 anywhere is an error on both paths (no fast-path shortcut around it).
    @Test func invalidUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC3], [0xED, 0xA0, 0x80]] {
            for field in ["hostname", "id", "account"] {
                var bytes = Array(Self.line.utf8)
                let anchor = Array(field == "hostname" ? "example.com".utf8 : field == "id" ? "e1".utf8 : "acme-sub1".utf8)
                let at = bytes.firstRange(of: anchor)!.lowerBound
                bytes.insert(contentsOf: bad, at: at + 1)
                let v = Self.validator()
                let (fast, general) = bytes.withUnsafeBufferPointer { b in
                    (EventDecoder.native(b, validator: v), EventDecoder.objects(b, validator: v, firstLine: 1, fast: { _, _, _ in nil }, validate: v.native))
                }
                #expect(fast.columns.isEmpty && fast.problems.count == 1, "\(bad) in \(field)")
                #expect(fast.problems == general.problems)
            }
        }
    }

    /// Random mutations of valid lines (bytes dropped, swapped or replaced) decode alike.
    @Test func mutatedLinesDecodeAlike() {
        var rng = SeededRandom(seed: 11)
        let alphabet = Array(#"{}[]":,.-+eE0123456789 \tnulltruefalse"#.utf8) + [0xC3, 0xBC, 0xFF]
        var text: [String] = []
        for i in 0..<3_000 {
            var bytes = Array(Self.cases[Int(rng.next() % UInt64(4))].utf8)
            for _ in 0..<(rng.next() % 3) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes.remove(at: at)
                case 1: bytes[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                default: bytes.swapAt(at, Int(rng.next() % UInt64(bytes.count)))
                }
            }
            bytes.removeAll { $0 == 10 || $0 == 13 }
            text.append(String(decoding: bytes, as: UTF8.self) + (i % 7 == 0 ? "\r" : ""))
        }
        let (fast, general) = Self.both(text.joined(separator: "\n"), Self.validator())
        #expect(fast.events == general.events)
        #expect(fast.problems == general.problems)
        #expect(fast.columns.keys == general.columns.keys)
        #expect(fast.columns.count > 300 && fast.problems.count > 300, "the mutations kept some lines valid and broke others")
    }

    /// The dedup key is MurmurHash3 x64-128 of `source␟id`, as published test values have it.
    @Test func dedupKeyIsMurmur3() {
        #expect(DedupKey(source: "gen", id: "d0-r42-1") == DedupKey(h1: 0x4688_ee8d_fae2_fcaf, h2: 0xc04b_01b5_76d8_45e0))
        for (text, h1, h2): (String, UInt64, UInt64) in [
            ("", 0, 0), ("a", 0x8555_5565_f659_7889, 0xe6b5_3a48_510e_895a),
            ("hello world, this is 31 bytes!!", 0x9ccd_69b3_122c_4c72, 0x5fa3_5ad8_fe9c_9347),
            ("0123456789abcdef", 0x4be0_6d94_cf4a_d1a7, 0x87c3_5b5c_63a7_08da), ("0123456789abcdef0", 0xeb24_ae87_85a5_c075, 0x73fb_68b3_3131_28ca),
        ] {
            let key = Array(text.utf8).withUnsafeBytes { DedupKey(hashing: $0) }
            #expect(key == DedupKey(h1: h1, h2: h2), "\(text)")
        }
    }
}
