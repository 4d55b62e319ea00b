// Azure storage connection strings ("DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;
// EndpointSuffix=…", "BlobEndpoint=…;SharedAccessSignature=…", "UseDevelopmentStorage=true").
import { InvalidConfigError } from '../backup/errors.ts';

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzureConnection {
  blobEndpoint: string;
  accountName?: string;
  accountKey?: string;
  sas?: string;
}

export function parseAzureConnectionString(text: string): AzureConnection {
  const fields = new Map<string, string>();
  for (const pair of text.split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) fields.set(pair.slice(0, at).trim().toLowerCase(), pair.slice(at + 1).trim());
  }
  if (fields.get('usedevelopmentstorage')?.toLowerCase() === 'true') {
    return { blobEndpoint: `http://127.0.0.1:10000/${AZURITE_ACCOUNT}`, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY };
  }
  const accountName = fields.get('accountname');
  const accountKey = fields.get('accountkey');
  const sas = fields.get('sharedaccesssignature');
  let blobEndpoint = fields.get('blobendpoint');
  if (!blobEndpoint && accountName) {
    const protocol = fields.get('defaultendpointsprotocol') ?? 'https';
    blobEndpoint = `${protocol}://${accountName}.blob.${fields.get('endpointsuffix') ?? 'core.windows.net'}`;
  }
  if (!blobEndpoint) {
    throw new InvalidConfigError('storage.azure.connection_string: expected AccountName=… or BlobEndpoint=… (the connection string from the portal)');
  }
  if (!accountKey && !sas) {
    throw new InvalidConfigError('storage.azure.connection_string: expected AccountKey=… or SharedAccessSignature=…');
  }
  return {
    blobEndpoint: blobEndpoint.replace(/\/+$/, ''),
    ...(accountName ? { accountName } : {}),
    ...(accountKey ? { accountKey } : {}),
    ...(sas ? { sas } : {}),
  };
}
