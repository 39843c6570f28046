#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where Steward keeps an app's data by default, following the XDG base-directory spec.
public enum StewardPaths {
    /// The app id used when a host or the CLI names none.
    public static let defaultAppID = "org.steward.example"

    /// `$XDG_DATA_HOME/steward/APP-ID`, or `~/.local/share/steward/APP-ID` when
    /// `XDG_DATA_HOME` is unset, empty or relative (the spec says to ignore relative paths).
    ///
    /// - Parameters:
    ///   - appID: A reverse-DNS app id such as `org.example.scanner`.
    ///   - environment: `XDG_DATA_HOME` and `HOME` to use instead of the process's own
    ///     environment (for tests); nil reads the process's. Without a usable `HOME`, the
    ///     home folder comes from the password database.
    /// - Throws: ``InvalidAppIDError`` for an app id that cannot be a folder name;
    ///   ``NoDataDirectoryError`` when neither `XDG_DATA_HOME`, `HOME` nor the password database
    ///   gives an absolute folder. There is no fallback to a shared folder such as `/tmp`, where
    ///   other users could read or plant the data.
    public static func defaultDataDirectory(appID: String = defaultAppID, environment: [String: String]? = nil) throws
        -> String
    {
        try defaultDataDirectory(appID: appID, environment: environment, passwordDatabaseHome: passwordDatabaseHome)
    }

    /// ``defaultDataDirectory(appID:environment:)`` with the password database's answer given.
    static func defaultDataDirectory(appID: String, environment: [String: String]?, passwordDatabaseHome: () -> String?)
        throws -> String
    {
        try validate(appID: appID)
        let env = environment ?? currentEnvironment()
        if let xdg = env["XDG_DATA_HOME"], xdg.hasPrefix("/") {
            return trimmed(xdg) + "/steward/" + appID
        }
        if let home = env["HOME"], home.hasPrefix("/") {
            return trimmed(home) + "/.local/share/steward/" + appID
        }
        if let home = passwordDatabaseHome(), home.hasPrefix("/"), home != "/" {
            return trimmed(home) + "/.local/share/steward/" + appID
        }
        throw NoDataDirectoryError()
    }

    /// Checks that `appID` is 1-255 letters, digits, `.`, `-` or `_`, not starting with `.`.
    public static func validate(appID: String) throws {
        let ok =
            !appID.isEmpty && appID.utf8.count <= 255 && appID.first != "."
            && appID.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                    || $0 == 0x5F || $0 == 0x2E
            }
        guard ok else { throw InvalidAppIDError(appID: appID) }
    }

    private static func trimmed(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    /// The effective user's home folder in the password database, if it has one.
    private static func passwordDatabaseHome() -> String? {
        guard let pw = getpwuid(geteuid()), let dir = pw.pointee.pw_dir else { return nil }
        return String(cString: dir)
    }

    private static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for key in ["XDG_DATA_HOME", "HOME"] {
            if let value = getenv(key) { result[key] = String(cString: value) }
        }
        return result
    }
}

/// An app id that cannot name a folder: it must be 1-255 letters, digits, `.`, `-` or `_`
/// and not start with `.` (reverse-DNS names such as `org.example.app` fit).
public struct InvalidAppIDError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The app id that was refused.
    public let appID: String
    /// What is wrong with the app id and which ids are valid.
    public var description: String {
        "app id '\(appID)' is not valid: use 1-255 letters, digits, '.', '-' or '_', not starting with '.', such as org.example.app"
    }
}

/// No data folder could be chosen: `XDG_DATA_HOME` and `HOME` are unset or relative and the
/// password database gives no home folder (a system user, a container without `/etc/passwd`).
/// Steward does not fall back to a shared folder such as `/tmp`.
public struct NoDataDirectoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Creates the error.
    public init() {}
    /// What is missing and how to give a folder.
    public var description: String {
        "no data directory: XDG_DATA_HOME and HOME are unset or relative and the user has no home folder; set XDG_DATA_HOME to an absolute path or give the data directory (Configuration.dataDirectory, steward --data-dir)"
    }
}
