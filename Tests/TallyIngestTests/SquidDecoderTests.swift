import Testing
import TallyCore

@testable import TallyIngest

@Suite("SquidDecoder")
struct SquidDecoderTests {
    // The real lines of spec/squid.md.
    static let realLines = [
        "1795290747.703      3 127.0.0.1 TCP_MISS/200 100311 GET http://127.0.0.1:8000/blob.bin bob HIER_DIRECT/127.0.0.1 application/octet-stream",
        "1795290747.743     18 127.0.0.1 TCP_TUNNEL/200 102283 CONNECT 127.0.0.1:8443 bob HIER_DIRECT/127.0.0.1 -",
        "1795290734.124      6 127.0.0.1 TCP_DENIED/407 3513 GET http://127.0.0.1:8000/index.html alice HIER_NONE/- text/html",
        "1795290747.771      0 127.0.0.1 TCP_DENIED/403 3396 CONNECT 127.0.0.1:8000 - HIER_NONE/- text/html",
    ]

    static let realRecords = [
        SquidRecord(
            time: 1_795_290_747_703, user: "bob", host: "127.0.0.1", port: 8000, status: 200,
            resultCode: "TCP_MISS", bytesToClient: 100_311, bytesFromClient: 0, method: "GET", denied: false),
        SquidRecord(
            time: 1_795_290_747_743, user: "bob", host: "127.0.0.1", port: 8443, status: 200,
            resultCode: "TCP_TUNNEL", bytesToClient: 102_283, bytesFromClient: 0, method: "CONNECT", denied: false),
        SquidRecord(
            time: 1_795_290_734_124, user: "alice", host: "127.0.0.1", port: 8000, status: 407,
            resultCode: "TCP_DENIED", bytesToClient: 3513, bytesFromClient: 0, method: "GET", denied: true),
        SquidRecord(
            time: 1_795_290_747_771, user: nil, host: "127.0.0.1", port: 8000, status: 403,
            resultCode: "TCP_DENIED", bytesToClient: 3396, bytesFromClient: 0, method: "CONNECT", denied: true),
    ]

    static let tallyFormat = "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %>st %rm %ru %[un %Sh/%<a %mt"

    static func native(_ line: String) -> SquidLineResult { SquidLogFormat.native.decode(line) }

    static func record(_ result: SquidLineResult) -> SquidRecord? {
        if case .record(let record) = result { return record }
        return nil
    }

    static func isMalformed(_ result: SquidLineResult) -> Bool {
        if case .malformed = result { return true }
        return false
    }

    /// A native line with the given method, URL, user, result and bytes.
    static func nativeLine(
        method: String = "GET", url: String, user: String = "bob", result: String = "TCP_MISS/200",
        bytes: String = "1234"
    ) -> String {
        "1795290747.703      3 127.0.0.1 \(result) \(bytes) \(method) \(url) \(user) HIER_DIRECT/10.0.0.1 text/html"
    }

    // MARK: Real lines

    @Test("the four real lines of spec/squid.md", arguments: zip(realLines, realRecords))
    func realLine(line: String, expected: SquidRecord) {
        #expect(Self.native(line) == .record(expected))
    }

    @Test func bytesEntryPointMatchesStringEntryPoint() {
        for line in Self.realLines {
            let viaBytes = Array(line.utf8).withUnsafeBytes { SquidLogFormat.native.decode($0) }
            #expect(viaBytes == Self.native(line))
        }
    }

    /// Metering's lean decode (`fields`, text fields left as spans of the line) agrees with the
    /// full record: the same numbers and user, and spans holding the host (before lower-casing),
    /// method and result code.
    @Test func leanFieldsAgreeWithTheRecord() throws {
        let upper = "1795290747.703      3 127.0.0.1 TCP_MISS/200 100311 GET http://Blob.Example:8000/blob.bin bob HIER_DIRECT/127.0.0.1 -"
        var upperRecord = Self.realRecords[0]
        upperRecord.host = "blob.example"
        for (line, full) in zip(Self.realLines + [upper], Self.realRecords + [upperRecord]) {
            let bytes = Array(line.utf8)
            let f = try #require(bytes.withUnsafeBytes { try? SquidLogFormat.native.fields($0).get() })
            func text(_ span: SquidSpan) -> String { String(decoding: bytes[span.start..<span.end], as: UTF8.self) }
            #expect(f.time == full.time && f.user == full.user && f.port == full.port && f.status == full.status)
            #expect(f.bytesToClient == full.bytesToClient && f.bytesFromClient == full.bytesFromClient && f.denied == full.denied)
            #expect(text(f.host) == (line == upper ? "Blob.Example" : full.host))
            #expect(text(f.method) == full.method)
            #expect(text(f.resultCode) == full.resultCode)
            #expect(bytes.withUnsafeBytes { f.record($0) } == full)
        }
        // The lean decode validates the text fields all the same.
        let garbled = "1795290747.703      3 127.0.0.1 TCP_MISS/200 100311 G\u{1}T http://127.0.0.1:8000/blob.bin bob HIER_DIRECT/127.0.0.1 -"
        #expect(Self.native(garbled) == .malformed(reason: "bad method"))
        let failure = Array(garbled.utf8).withUnsafeBytes { raw -> String? in
            if case .failure(let f) = SquidLogFormat.native.fields(raw) { return f.reason }
            return nil
        }
        #expect(failure == "bad method")
        // A format without a method leaves its span unset, and the record's method empty.
        let noMethod = try SquidLogFormat(logformat: "%ts %Ss %<st %ru")
        let line = Array("1795290747 TCP_MISS 5 http://h/".utf8)
        let f = try #require(line.withUnsafeBytes { try? noMethod.fields($0).get() })
        #expect(!f.method.isSet)
        #expect(line.withUnsafeBytes { f.record($0) }.method == "")
    }

    @Test func trailingCarriageReturnAndSpacesAreIgnored() {
        #expect(Self.native(Self.realLines[0] + "\r") == .record(Self.realRecords[0]))
        #expect(Self.native(Self.realLines[0] + "   ") == .record(Self.realRecords[0]))
        #expect(Self.native("  " + Self.realLines[0]) == .record(Self.realRecords[0]))
    }

    @Test func nativeLineWithMimeHeadersIsAccepted() {
        let line = Self.realLines[0] + " [Host: 127.0.0.1:8000\\r\\nAccept: */*\\r\\n] [HTTP/1.1 200 OK\\r\\n]"
        #expect(Self.native(line) == .record(Self.realRecords[0]))
    }

    // MARK: Custom formats

    @Test func customFormatWithRequestBytes() throws {
        let format = try SquidLogFormat(logformat: Self.tallyFormat)
        let line =
            "1795290747.703      3 127.0.0.1 TCP_MISS/200 100311 412 GET http://Example.COM/blob.bin bob HIER_DIRECT/93.184.216.34 application/octet-stream"
        #expect(
            format.decode(line)
                == .record(
                    SquidRecord(
                        time: 1_795_290_747_703, user: "bob", host: "example.com", port: 80, status: 200,
                        resultCode: "TCP_MISS", bytesToClient: 100_311, bytesFromClient: 412, method: "GET",
                        denied: false)))
        // The native layout does not fit this format: one field too many.
        #expect(Self.isMalformed(SquidLogFormat.native.decode(line)))
        // Nor does a native line fit the custom format.
        #expect(Self.isMalformed(format.decode(Self.realLines[0])))
    }

    @Test func wholeLogformatDirectiveAndBuiltInNamesAreAccepted() throws {
        let directive = try SquidLogFormat(logformat: "logformat tally " + Self.tallyFormat)
        #expect(directive.definition == Self.tallyFormat)
        let named = try SquidLogFormat(logformat: "squid")
        #expect(named.decode(Self.realLines[1]) == .record(Self.realRecords[1]))
    }

    @Test func nativeFormatWrittenOutDecodesLikeNative() throws {
        let format = try SquidLogFormat(logformat: "%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt")
        for (line, expected) in zip(Self.realLines, Self.realRecords) {
            #expect(format.decode(line) == .record(expected))
        }
    }

    @Test func commonFormatWithLocalTime() throws {
        let format = try SquidLogFormat(logformat: "common")
        let line =
            #"127.0.0.1 - bob [21/Nov/2026:05:52:27 +0100] "GET http://example.com/a?b HTTP/1.1" 200 1234 TCP_MISS:HIER_DIRECT"#
        // 2026-11-21T04:52:27Z
        #expect(
            format.decode(line)
                == .record(
                    SquidRecord(
                        time: 1_795_236_747_000, user: "bob", host: "example.com", port: 80, status: 200,
                        resultCode: "TCP_MISS", bytesToClient: 1234, bytesFromClient: 0, method: "GET", denied: false)))
    }

    @Test func combinedFormatWithQuotedHeadersHoldingSpaces() throws {
        let format = try SquidLogFormat(logformat: "combined")
        let line =
            #"10.1.2.3 - carol [21/Nov/2026:05:52:27 -0030] "CONNECT www.example.org:443 HTTP/1.1" 200 99 "-" "Mozilla/5.0 (X11; \"Linux\")" TCP_TUNNEL:HIER_DIRECT"#
        let record = try #require(Self.record(format.decode(line)))
        #expect(record.time == 1_795_236_747_000 + 5_400_000)
        #expect(record.host == "www.example.org")
        #expect(record.port == 443)
        #expect(record.user == "carol")
        #expect(record.resultCode == "TCP_TUNNEL")
    }

    @Test func gmtTimeAndStartTime() throws {
        let gmt = try SquidLogFormat(logformat: "%tg %Ss %<st %ru")
        #expect(Self.record(gmt.decode("21/Nov/2026:04:52:27 TCP_MISS 5 http://h/"))?.time == 1_795_236_747_000)
        #expect(Self.isMalformed(gmt.decode("31/Nov/2026:04:52:27 TCP_MISS 5 http://h/")))
        #expect(Self.isMalformed(gmt.decode("29/Feb/2026:04:52:27 TCP_MISS 5 http://h/")))
        #expect(Self.record(gmt.decode("29/Feb/2028:00:00:00 TCP_MISS 5 http://h/"))?.time == 1_835_395_200_000)
        #expect(Self.isMalformed(gmt.decode("31/Dec/1969:23:59:59 TCP_MISS 5 http://h/")))
        #expect(Self.isMalformed(gmt.decode("21/nov/2026:04:52:27 TCP_MISS 5 http://h/")))
        let start = try SquidLogFormat(logformat: "%tS %Ss %<st %ru")
        #expect(Self.record(start.decode("1795290747.7 TCP_MISS 5 http://h/"))?.time == 1_795_290_747_700)
        #expect(Self.record(start.decode("1795290747.123456 TCP_MISS 5 http://h/"))?.time == 1_795_290_747_123)
        #expect(Self.record(start.decode("1795290747 TCP_MISS 5 http://h/"))?.time == 1_795_290_747_000)
        #expect(Self.isMalformed(start.decode("1795290747. TCP_MISS 5 http://h/")))
    }

    @Test func paddedAndUnpaddedSubseconds() throws {
        let format = try SquidLogFormat(logformat: "%ts.%tu %Ss %<st %ru")
        #expect(Self.record(format.decode("1795290747.7 TCP_MISS 5 http://h/"))?.time == 1_795_290_747_007)
        #expect(Self.isMalformed(format.decode("1795290747.1000 TCP_MISS 5 http://h/")))
    }

    @Test func paddedCodesInsideAField() throws {
        let format = try SquidLogFormat(logformat: "%ts x%6tr %-12Ss/%>Hs %<st %ru %un")
        let record = try #require(
            Self.record(format.decode("1795290747 x     3 TCP_MISS    /200 5 http://h:81/ bob")))
        #expect(record.resultCode == "TCP_MISS")
        #expect(record.status == 200)
        #expect(record.user == "bob")
        #expect(record.port == 81)
        #expect(record.time == 1_795_290_747_000)
    }

    @Test func userCodePriorityAndIdentIsNeverTheUser() throws {
        let format = try SquidLogFormat(logformat: "%ts %ui %ul %Ss %<st %ru")
        #expect(Self.record(format.decode("1 mallory bob TCP_MISS 5 http://h/"))?.user == "bob")
        let identOnly = try SquidLogFormat(logformat: "%ts %ui %Ss %<st %ru")
        #expect(Self.record(identOnly.decode("1 mallory TCP_MISS 5 http://h/"))?.user == nil)
        let both = try SquidLogFormat(logformat: "%ts %ul %un %Ss %<st %ru")
        #expect(Self.record(both.decode("1 login name TCP_MISS 5 http://h/"))?.user == "name")
    }

    @Test func namespacedAndHeaderCodesAreSkipped() throws {
        let format = try SquidLogFormat(
            logformat: "%ts %ssl::>sni %>h %{Host}>h %http::>a %Ss %<st %ru %note %err_code/%err_detail")
        let line = "1 example.org Host:%20x x.org 10.0.0.1 TCP_MISS 5 http://h/ - ERR_NONE/-"
        #expect(Self.record(format.decode(line))?.host == "h")
    }

    @Test(
        "formats that cannot be placed or lack what Tally needs",
        arguments: [
            "%ts%tu %Ss %<st %ru",  // adjacent codes
            "%ts %Ss %<st %ru/x",  // URL followed by a byte URLs contain
            "%ts %Ss-%<st %ru",  // token followed by '-'
            "%ts %Ss %<st %rq",  // unknown code
            "%ts %Ss %<st %ru %",  // lone %
            "%ts %Ss %<st %ru %{Referer",  // unclosed argument
            "%ts %Ss %<st %ru %\"{User-Agent}>h",  // quoted header before the end of the line
            "%>a %Ss %<st %ru",  // no time
            "%ts %<st %ru",  // no result code
            "%ts %Ss %ru",  // no reply bytes
            "%ts %Ss %<st",  // no URL
            "%tl{%Y} %Ss %<st %ru",  // custom time layout
            "%ts %tg{%H %M} %Ss %<st %ru",  // custom time layout, even where it is skipped
            "%ts.%.3tu %Ss %<st %ru",  // precision on %tu
            "",
            "   ",
        ])
    func unplaceableFormats(definition: String) {
        #expect(throws: SquidLogFormatError.self) { try SquidLogFormat(logformat: definition) }
    }

    @Test func formatErrorsSayWhat() {
        do {
            _ = try SquidLogFormat(logformat: "%ts %Ss %<st %ru %zz")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("%zz"))
        }
        do {
            _ = try SquidLogFormat(logformat: "%ts %Ss %<st")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("%ru"))
        }
    }

    // MARK: Hosts and ports

    @Test(
        "host and port from the URL",
        arguments: [
            ("GET", "http://example.com/", "example.com", 80),
            ("GET", "http://example.com", "example.com", 80),
            ("GET", "http://example.com:/x", "example.com", 80),
            ("GET", "https://Example.com/x?y", "example.com", 443),
            ("GET", "HTTPS://EXAMPLE.COM:8443/", "example.com", 8443),
            ("GET", "ftp://anonymous:secret@ftp.example.org/pub/file", "ftp.example.org", 21),
            ("GET", "http://user@host.example:8080/a@b", "host.example", 8080),
            ("GET", "http://[2001:DB8::1]/", "2001:db8::1", 80),
            ("GET", "https://[::1]:8443/x", "::1", 8443),
            ("GET", "http://h?q=1", "h", 80),
            ("GET", "gopher://h/", "h", 70),
            ("CONNECT", "www.Example.org:443", "www.example.org", 443),
            ("CONNECT", "[2001:db8::42]:443", "2001:db8::42", 443),
            ("CONNECT", "[FE80::1%25eth0]:8443", "fe80::1%25eth0", 8443),
            ("CONNECT", "10.0.0.1:65535", "10.0.0.1", 65535),
        ])
    func hostAndPort(method: String, url: String, host: String, port: Int) throws {
        let record = try #require(Self.record(Self.native(Self.nativeLine(method: method, url: url))))
        #expect(record.host == host)
        #expect(record.port == port)
        #expect(record.method == method)
    }

    @Test(
        "URLs without a usable host or port",
        arguments: [
            "error:transaction-end-before-headers",
            "error:invalid-request",
            "-",
            "http:///path",
            "http://:80/",
            "http://user@/",
            "foo://host/",  // no default port for the scheme
            "example.com",  // CONNECT form without a port
            "example.com:0",
            "example.com:65536",
            "example.com:-1",
            "example.com:+443",
            "example.com:443x",
            "[::1]",
            "[::1]x:443",
            "[]:443",
            "[1.2.3.4]:443",
            "[::1:443",
            "ho st:443",
            "héllo.example:443",
            "http://exa<mple.com/",
            "*",
        ])
    func badURL(url: String) {
        #expect(Self.isMalformed(Self.native(Self.nativeLine(url: url))))
    }

    // MARK: Users

    @Test func usersAreUnescaped() throws {
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", user: "jos%c3%a9")))?.user == "josé")
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", user: "a%5bb%5d")))?.user == "a[b]")
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", user: #"dom\\user"#)))?.user == #"dom\user"#)
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", user: "bob@example.com")))?.user == "bob@example.com")
        // Broken escapes and escaped invalid UTF-8.
        #expect(Self.isMalformed(Self.native(Self.nativeLine(url: "http://h/", user: "a%zz"))))
        #expect(Self.isMalformed(Self.native(Self.nativeLine(url: "http://h/", user: "a%c"))))
        #expect(Self.isMalformed(Self.native(Self.nativeLine(url: "http://h/", user: "a%ff"))))
        #expect(Self.isMalformed(Self.native(Self.nativeLine(url: "http://h/", user: #"a\q"#))))
    }

    @Test func rawUserBytesMustBeUTF8() throws {
        let format = try SquidLogFormat(logformat: "%ts %un %Ss %<st %ru")
        var good = Array("1 ".utf8) + [0x62, 0xC3, 0xA9] + Array(" TCP_MISS 5 http://h/".utf8)
        let user = good.withUnsafeBytes { Self.record(format.decode($0))?.user }
        #expect(user == "bé")
        good[3] = 0xFF
        let bad = good.withUnsafeBytes { format.decode($0) }
        #expect(bad == .malformed(reason: "bad user name"))
    }

    // MARK: Denied

    @Test(
        "what counts as denied",
        arguments: [
            ("TCP_DENIED", 407, true),
            ("TCP_DENIED", 403, true),
            ("TCP_DENIED_REPLY", 403, true),
            ("UDP_DENIED", 0, true),
            ("NONE_NONE", 0, true),
            ("NONE_NONE", 400, true),
            ("NONE", 503, true),
            ("TAG_NONE", 200, true),
            ("TCP_MISS", 407, true),
            ("TCP_MISS", 200, false),
            ("TCP_TUNNEL", 200, false),
            ("TCP_MISS_ABORTED", 0, false),
            ("TCP_MISS", 403, false),
        ])
    func denied(code: String, status: Int, expected: Bool) throws {
        #expect(SquidRecord.isDenied(resultCode: code, status: status) == expected)
        let result = Self.codeAndStatus(code, status)
        let record = try #require(Self.record(Self.native(Self.nativeLine(url: "http://h/", result: result))))
        #expect(record.denied == expected)
        #expect(record.resultCode == code)
        #expect(record.status == status)
    }

    // MARK: Malformed lines

    @Test(
        "malformed lines",
        arguments: [
            ("", "empty line"),
            ("    ", "empty line"),
            ("1795290747.703", "truncated line"),
            ("1795290747.703      3 127.0.0.1 TCP_MISS/200", "truncated line"),
            ("x795290747.703      3 127.0.0.1 TCP_MISS/200 1 GET http://h/ bob HIER_DIRECT/- -", "bad time"),
            ("1795290747.7030      3 127.0.0.1 TCP_MISS/200 1 GET http://h/ bob HIER_DIRECT/- -", "bad time"),
            ("99999999999999999.703 3 127.0.0.1 TCP_MISS/200 1 GET http://h/ bob HIER_DIRECT/- -", "bad time"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/2x0 1 GET http://h/ bob HIER_DIRECT/- -", "bad HTTP status"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/1000 1 GET http://h/ bob HIER_DIRECT/- -", "bad HTTP status"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 -1 GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 +1 GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 1e3 GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 9223372036854775808 GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 99999999999999999999999 GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 - GET http://h/ bob HIER_DIRECT/- -", "bad byte count"),
            ("1795290747.703 3 127.0.0.1 TCP_M!SS/200 1 GET http://h/ bob HIER_DIRECT/- -", "bad result code"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 1 G(T http://h/ bob HIER_DIRECT/- -", "bad method"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS/200 1 GET http://h/ bob HIER_DIRECT/- - extra", "too many fields"),
            ("1795290747.703 3 127.0.0.1 TCP_MISS-200 1 GET http://h/ bob HIER_DIRECT/- -", "line does not match the format"),
        ])
    func malformed(line: String, reason: String) {
        #expect(Self.native(line) == .malformed(reason: reason))
    }

    @Test func aNeverForwardedLineWithoutAHostIsDeniedNotMalformed() throws {
        let line = "1795290747.703 3 127.0.0.1 NONE_NONE/000 0 - error:transaction-end-before-headers - HIER_NONE/- -"
        let record = try #require(Self.record(Self.native(line)))
        #expect(record.denied)
        #expect(record.host == "")
        #expect(Self.native("1795290747.703 3 127.0.0.1 TCP_MISS/200 0 - error:transaction-end-before-headers - HIER_NONE/- -") == .malformed(reason: "bad URL"))
    }

    @Test func largestByteCountIsAccepted() throws {
        let record = try #require(
            Self.record(Self.native(Self.nativeLine(url: "http://h/", bytes: "0009223372036854775807"))))
        #expect(record.bytesToClient == Int64.max)
    }

    @Test func statusDashAndZeros() throws {
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", result: "NONE_NONE/000")))?.status == 0)
        #expect(Self.record(Self.native(Self.nativeLine(url: "http://h/", result: "NONE_NONE/-")))?.status == 0)
    }

    // MARK: Robustness

    /// Any record must satisfy what a real one does, whatever bytes it came from.
    static func checkInvariants(_ result: SquidLineResult) {
        switch result {
        case .record(let r):
            if r.denied && r.host.isEmpty {
                #expect(r.port == 0)  // a never-forwarded line without a target
            } else {
                #expect(!r.host.isEmpty)
                #expect((1...65535).contains(r.port))
            }
            #expect(r.host == r.host.lowercased())
            #expect((0...999).contains(r.status))
            #expect(r.bytesToClient >= 0 && r.bytesFromClient >= 0)
            #expect(r.time >= 0)
            #expect(!r.resultCode.isEmpty)
            #expect(r.user != "")
        case .malformed(let reason):
            #expect(!reason.isEmpty)
        }
    }

    @Test func randomMutationsNeverTrap() throws {
        var rng = SeededRandom(seed: 0x5EED_2026)
        let custom = try SquidLogFormat(logformat: Self.tallyFormat)
        let common = try SquidLogFormat(logformat: "combined")
        let seeds: [[UInt8]] =
            Self.realLines.map { Array($0.utf8) }
            + [
                Array(Self.nativeLine(method: "CONNECT", url: "[2001:db8::1]:443", user: "jos%c3%a9").utf8),
                Array(
                    "1795290747.703      3 127.0.0.1 TCP_MISS/200 100311 412 GET https://user@Example.COM:8443/x bob HIER_DIRECT/1.2.3.4 text/html"
                        .utf8),
                Array(
                    #"10.1.2.3 - carol [21/Nov/2026:05:52:27 -0030] "GET http://a/ HTTP/1.1" 200 99 "-" "UA \"x\"" TCP_MISS:HIER_DIRECT"#
                        .utf8),
            ]
        let alphabet = Array(" ./:[]%\\\"-0123456789TCP_DENIED\u{0}\r\n".utf8) + [0xC3, 0xA9, 0xFF, 0x80]
        var records = 0
        for _ in 0..<6000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                let byte =
                    Bool.random(using: &rng)
                    ? alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<6, using: &rng) {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                case 2: bytes.remove(at: at)
                case 3: bytes.removeSubrange(at...)
                case 4: bytes.insert(contentsOf: repeatElement(byte, count: Int.random(in: 1...30, using: &rng)), at: at)
                default:
                    let end = min(bytes.count, at + Int.random(in: 1...20, using: &rng))
                    bytes.removeSubrange(at..<end)
                }
            }
            for format in [SquidLogFormat.native, custom, common] {
                let result = bytes.withUnsafeBytes { format.decode($0) }
                Self.checkInvariants(result)
                if case .record = result { records += 1 }
            }
        }
        // Fully random lines.
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            Self.checkInvariants(bytes.withUnsafeBytes { SquidLogFormat.native.decode($0) })
        }
        // Many mutations keep the line valid: the loop did exercise the decoding of records.
        #expect(records > 500)
    }

    @Test func aLineCutAnywhereIsMalformedOrTheSameRecord() {
        for (line, expected) in zip(Self.realLines, Self.realRecords) {
            let bytes = Array(line.utf8)
            let lastSpace = bytes.lastIndex(of: UInt8(ascii: " ")) ?? 0
            for cut in 0...bytes.count {
                let result = bytes[..<cut].withUnsafeBytes { SquidLogFormat.native.decode($0) }
                switch result {
                case .record(let record):
                    // Only a cut inside the last field (the content type, not in the record) decodes.
                    #expect(record == expected, "cut at \(cut)")
                    #expect(cut > lastSpace, "cut at \(cut)")
                case .malformed:
                    break
                }
            }
        }
    }

    @Test func aCutInsideTheLastByteFieldNeverGrowsIt() throws {
        // Where the byte count ends the line, a cut line cannot be told from a shorter count;
        // it must never read as a larger one.
        let format = try SquidLogFormat(logformat: "%ts.%03tu %Ss %ru %<st")
        let bytes = Array("1795290747.703 TCP_MISS http://h/ 100311".utf8)
        for cut in 0...bytes.count {
            let result = bytes[..<cut].withUnsafeBytes { format.decode($0) }
            if case .record(let record) = result {
                #expect(record.bytesToClient <= 100_311)
            }
        }
    }
}

extension SquidDecoderTests {
    /// `TCP_MISS/007`: the result field as Squid writes it with `%03>Hs`.
    static func codeAndStatus(_ code: String, _ status: Int) -> String {
        let digits = String(status)
        return code + "/" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
