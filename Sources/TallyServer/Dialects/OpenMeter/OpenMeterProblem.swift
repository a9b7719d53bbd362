import Hummingbird
import NIOCore
import TallyCore

/// An error of the OpenMeter dialect, rendered as RFC 7807 `application/problem+json`.
struct OpenMeterProblem: DialectError {
    var status: HTTPResponse.Status
    var detail: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ detail: String, headers: HTTPFields = [:]) {
        self.status = status
        self.detail = detail
        self.headers = headers
    }

    static let unauthorized = OpenMeterProblem(.unauthorized, "a valid bearer token of an account is required")
    static let unavailable = OpenMeterProblem(.serviceUnavailable, "the query could not be answered right now; retry later")
    static let routeNotFound = OpenMeterProblem(.notFound, "no such route")

    static func http(_ status: HTTPResponse.Status) -> OpenMeterProblem { OpenMeterProblem(status, status.reasonPhrase) }

    /// The problem document, its `instance` the request's path.
    func response(for request: Request) -> Response {
        let instance = request.uri.path
        let body = "{\"type\":\"about:blank\",\"title\":" + JSONValue.quote(status.reasonPhrase) + ",\"status\":\(status.code),\"detail\":"
            + JSONValue.quote(detail) + ",\"instance\":" + JSONValue.quote(instance) + "}"
        var h = headers
        h[.contentType] = "application/problem+json"
        if status == .unauthorized { h[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
