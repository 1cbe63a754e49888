/** Where a pod finds its tlsSecret (mounted read-only), shared by the pod spec and the certificate reload. */
export const TLS_MOUNT = "/tls";

export const TLS_FILES = {
  cert: `${TLS_MOUNT}/tls.crt`,
  key: `${TLS_MOUNT}/tls.key`,
  ca: `${TLS_MOUNT}/ca.crt`,
} as const;
