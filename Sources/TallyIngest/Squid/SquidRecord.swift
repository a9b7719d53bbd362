/// One decoded Squid access-log line: what Tally needs to meter proxy usage.
public struct SquidRecord: Sendable, Equatable {
    /// When Squid logged the line, in epoch milliseconds.
    public var time: Int64
    /// The user name Squid logged, `nil` for `-`. Escapes of `%[un`-style quoting are undone.
    public var user: String?
    /// The target host, lower-cased; an IPv6 address comes without its brackets. Empty only on
    /// a denied line whose URL names no host (`error:transaction-end-before-headers`).
    public var host: String
    /// The target port; 80, 443 or 21 when an `http`, `https` or `ftp` URL names none (0 with an
    /// empty host).
    public var port: Int
    /// The HTTP status sent to the client, 0 for `000`, `-` or a format without `%>Hs`.
    public var status: Int
    /// Squid's result code, e.g. `TCP_MISS`.
    public var resultCode: String
    /// Bytes sent to the client, headers included (`%<st`).
    public var bytesToClient: Int64
    /// Bytes received from the client (`%>st`), 0 when the format does not log them.
    public var bytesFromClient: Int64
    /// The request method, e.g. `GET` or `CONNECT`.
    public var method: String
    /// True when the line is never usage of the user it names; see ``isDenied(resultCode:status:)``.
    public var denied: Bool

    public init(
        time: Int64, user: String?, host: String, port: Int, status: Int, resultCode: String,
        bytesToClient: Int64, bytesFromClient: Int64, method: String, denied: Bool
    ) {
        self.time = time
        self.user = user
        self.host = host
        self.port = port
        self.status = status
        self.resultCode = resultCode
        self.bytesToClient = bytesToClient
        self.bytesFromClient = bytesFromClient
        self.method = method
        self.denied = denied
    }

    /// Whether a line with this result code and status must not be billed to the user it names.
    ///
    /// Squid writes the user name even when authentication failed, so billing such a line would
    /// let anyone inflate another customer's bill (spec/squid.md). A line is denied when:
    /// - the result code starts with `TCP_DENIED` (covers `TCP_DENIED_REPLY`) or `UDP_DENIED`;
    /// - the result code starts with `NONE` or `TAG_NONE` (`NONE_NONE/000`, `NONE_NONE/400`,
    ///   `TAG_NONE/200` ...): Squid never forwarded the request (aborted or invalid requests,
    ///   TLS errors, the CONNECT of a bumped tunnel whose inner requests are logged separately),
    ///   so there is no usage, and the name on it may not have been verified;
    /// - the status is 407: proxy authentication was required and not satisfied.
    public static func isDenied(resultCode: String, status: Int) -> Bool {
        var code = resultCode
        return code.withUTF8 { isDenied(resultCode: UnsafeRawBufferPointer($0), status: status) }
    }

    static func isDenied(resultCode code: UnsafeRawBufferPointer, status: Int) -> Bool {
        if status == 407 { return true }
        return hasPrefix(code, "TCP_DENIED") || hasPrefix(code, "UDP_DENIED")
            || hasPrefix(code, "NONE") || hasPrefix(code, "TAG_NONE")
    }

    @inline(__always)
    private static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard bytes.count >= n else { return false }
        let p = prefix.utf8Start
        for i in 0..<n where bytes[i] != p[i] { return false }
        return true
    }
}

/// The outcome of decoding one line: a record, or a short reason why the line does not fit.
public enum SquidLineResult: Sendable, Equatable {
    case record(SquidRecord)
    case malformed(reason: String)
}
