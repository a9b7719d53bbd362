import Hummingbird
import NIOCore
import TallyCore

/// An error of the Telnyx dialect: `{"errors":[{"code","title","detail","source":{"parameter"},"meta":{"url"}}]}`.
struct TelnyxError: DialectError {
    /// One entry of `errors`.
    struct Record: Sendable, Equatable {
        var code: String
        var title: String
        var detail: String
        /// The query parameter at fault, if one is.
        var parameter: String?
    }

    var status: HTTPResponse.Status
    var records: [Record]
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ records: [Record], headers: HTTPFields = [:]) {
        self.status = status
        self.records = records
        self.headers = headers
    }

    /// 400 with code 10003: every invalid parameter of a request.
    static func invalid(_ records: [Record]) -> TelnyxError { TelnyxError(.badRequest, records) }

    static func invalid(_ title: String, _ detail: String, parameter: String) -> Record {
        Record(code: "10003", title: title, detail: detail, parameter: parameter)
    }

    static let authentication = TelnyxError(.unauthorized, [Record(code: "10009", title: "Authentication failed",
        detail: "The API key is missing or invalid. Send it as Authorization: Bearer <key>.")])

    static func tooManyRequests(headers: HTTPFields) -> TelnyxError {
        TelnyxError(.tooManyRequests, [Record(code: "10011", title: "Too many requests",
            detail: "The rate limit of this API key is reached; retry after the time in x-ratelimit-reset.")], headers: headers)
    }

    static let routeNotFound = TelnyxError(.notFound, [Record(code: "10005", title: "Resource not found", detail: "No such route.")])

    static func http(_ status: HTTPResponse.Status) -> TelnyxError {
        TelnyxError(status, [Record(code: "10015", title: "Bad Request", detail: status.reasonPhrase)])
    }

    static let unavailable = TelnyxError(.serviceUnavailable, [Record(code: "10007", title: "Unexpected error",
        detail: "The report could not be computed right now; retry later.")])

    func response(for request: Request) -> Response {
        let items = records.map { r in
            var s = "{\"code\":" + JSONValue.quote(r.code) + ",\"title\":" + JSONValue.quote(r.title) + ",\"detail\":" + JSONValue.quote(r.detail)
            if let p = r.parameter { s += ",\"source\":{\"parameter\":" + JSONValue.quote(p) + "}" }
            return s + ",\"meta\":{\"url\":\"https://developers.telnyx.com/docs/overview/errors/" + r.code + "\"}}"
        }
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: "{\"errors\":[" + items.joined(separator: ",") + "]}")))
    }
}
