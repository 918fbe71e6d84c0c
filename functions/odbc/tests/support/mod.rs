//! What the tests through the ODBC drivers share.

/// The user, host, port and database of `scheme://user[:password]@host:port/database`, the test
/// servers' native URLs, which the tests turn into connection strings.
pub fn parts(url: &str) -> (String, String, String, String) {
    let rest = url.split_once("://").expect("a URL").1;
    let (user, rest) = rest.split_once('@').expect("a user");
    let user = user.split(':').next().unwrap_or_default();
    let (address, database) = rest.split_once('/').expect("a database");
    let database = database.split('?').next().unwrap_or_default();
    let (host, port) = address.split_once(':').expect("a port");
    (user.into(), host.into(), port.into(), database.into())
}
