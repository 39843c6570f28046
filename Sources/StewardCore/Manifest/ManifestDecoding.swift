public import struct Foundation.Date

extension PrivacyManifest {
    /// Reads a manifest from JSON and checks it, reporting every problem at once.
    ///
    /// Nothing in `json` can make this trap: empty input, invalid UTF-8, nesting deeper than 32
    /// levels, input over 16 MiB, huge numbers, `NaN` and duplicate keys all become problems.
    /// Structural problems come first, in document order, each with its JSON path:
    /// - invalid JSON, with its line and column (reading stops at the first syntax error, so it
    ///   is reported alone),
    /// - duplicate keys, wrong types, missing required fields, keys the manifest does not have
    ///   (likely typos, reported with the nearest known key),
    /// - unknown `legalBasis`, `sensitivity`, `role`, `type` or `classification` values (the
    ///   message lists the allowed ones),
    /// - `expires` dates that are not `YYYY-MM-DD`.
    ///
    /// Then every semantic check of ``validate(now:)`` runs, except where a structural
    /// problem already covers the spot.
    ///
    /// `recipients`, `permissions`, `minimumAges`, `events`, a category's `recipients`, a
    /// recipient's `endpointHosts` and an event's `attributes` may be left out (empty);
    /// `controller`, `retentionDays`, `region`, `expires`, `address` and `maxLength` may be
    /// left out or null.
    ///
    /// - Parameters:
    ///   - json: The manifest as UTF-8 JSON (a leading byte-order mark is allowed).
    ///   - now: The date events' expiry is checked against.
    /// - Returns: The manifest, free of problems.
    /// - Throws: ``ManifestError`` with every problem found.
    ///
    /// ```swift
    /// do {
    ///     let manifest = try PrivacyManifest.decode(json: bytes, now: clock.now)
    /// } catch {
    ///     print(error)   // one line per problem: "$.purposes[2].legalBasis: unknown legalBasis …"
    /// }
    /// ```
    public static func decode(json: [UInt8], now: Date = Date()) throws(ManifestError) -> PrivacyManifest {
        let parsed = JSONParser.parse(json)
        var problems = parsed.problems
        guard let value = parsed.value else { throw ManifestError(problems, positions: parsed.positions) }
        let reader = ManifestReader()
        let manifest = reader.manifest(from: value)
        problems += reader.problems
        guard let manifest else { throw ManifestError(problems, positions: parsed.positions) }
        var validator = ManifestValidator(manifest: manifest, now: now, structural: problems.map(\.path))
        problems += validator.run()
        guard problems.isEmpty else { throw ManifestError(problems, positions: parsed.positions) }
        return manifest
    }

    /// Reads a manifest from a JSON string and checks it, reporting every problem at once.
    ///
    /// The same as ``decode(json:now:)`` on the string's UTF-8.
    ///
    /// - Throws: ``ManifestError`` with every problem found.
    ///
    /// ```swift
    /// let manifest = try PrivacyManifest.decode(json: #"{"policyVersion": "1", "purposes": [], "dataCategories": []}"#)
    /// ```
    public static func decode(json: String, now: Date = Date()) throws(ManifestError) -> PrivacyManifest {
        try decode(json: Array(json.utf8), now: now)
    }
}

extension ManifestError {
    init(_ problems: [(path: JSONPath, message: String)], positions: [String: (line: Int, column: Int)] = [:]) {
        self.init(
            problems: problems.map { problem in
                // The value at the path, else the closest enclosing value read.
                let place = problem.path.prefixes.reversed().lazy.compactMap { positions[$0.description] }.first
                return ManifestProblem(
                    path: problem.path.description, message: problem.message, line: place?.line, column: place?.column)
            })
    }
}
