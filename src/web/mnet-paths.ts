/** The Mahara paths peers build from our wwwroot (§1.1); they must not move. */
export const MNET_SERVER_PATH = '/api/xmlrpc/server.php';
export const PUBLIC_KEY_PATH = '/api/xmlrpc/publickey.php';
