// Typed use of the API through the types openapi-typescript generates from openapi/openapi.json
// (crm-api.d.ts, written by CI). `tsc --noEmit` fails if a shape drifts: the @ts-expect-error
// lines fail too when the mistake they show stops being an error (e.g. money typed as number).
import type { components, paths } from "./crm-api";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Schemas = components["schemas"];

type CustomerCreate = Json<paths["/api/v1/customers"]["post"]["requestBody"]>;
type CustomerCreated = Json<paths["/api/v1/customers"]["post"]["responses"][201]>;
type CustomerPage = Json<paths["/api/v1/customers"]["get"]["responses"][200]>;
type ContactPage = Json<paths["/api/v1/customers/{customer_id}/contacts"]["get"]["responses"][200]>;
type Contract = Json<paths["/api/v1/contracts/{contract_id}/sign"]["post"]["responses"][200]>;
type CreditSettings = Json<paths["/api/v1/settings/credit"]["get"]["responses"][200]>;
type Allocation = Json<paths["/api/v1/pool/allocate"]["post"]["responses"][200]>;

const create: CustomerCreate = {
  name: "Acme Machinery Co",
  target_amount: "12500.00",
  contacts: [{ name: "Wang", phones: ["13800138000"], is_primary: true }],
};

// @ts-expect-error money is a decimal string, never a JSON number
const wrongMoney: CustomerCreate = { name: "Acme", target_amount: 12500 };

function primaryContact(customer: CustomerCreated): string | undefined {
  return customer.contacts.find((c) => c.is_primary)?.name;
}

function names(page: CustomerPage): string[] {
  const next: string | null = page.next_cursor;
  return next === null ? page.items.map((c) => c.name) : [];
}

function contactCount(page: ContactPage): number {
  return page.items.length + (page.next_cursor ? 1 : 0);
}

function signedAmount(contract: Contract): string {
  return contract.status === "signed" ? contract.amount : "0.00";
}

function defaultLimit(settings: CreditSettings): string {
  const rate: string = settings.provision_rates.current;
  return `${settings.default_credit_limit} (${rate})`;
}

function assigned(result: Allocation): number {
  return result.assignments.filter((a) => a.applied).length;
}

const problem: Schemas["Problem"] = {
  type: "urn:crm:problem:not_found", title: "Not Found", status: 404, detail: "No such customer",
  code: "not_found",
};

export { create, wrongMoney, primaryContact, names, contactCount, signedAmount, defaultLimit, assigned, problem };
