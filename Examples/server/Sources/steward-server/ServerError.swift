/// The error `GET /fail` throws: what a handler's failure looks like to Steward. The request
/// middleware logs it at `error`, which `StewardLogHandler` turns into a handled-error report
/// (type `ServerError`, message and description, the breadcrumbs of the requests before it).
struct ServerError: Error, CustomStringConvertible {
    /// What failed, in the server's words.
    var description: String
}
