// Binzhou's districts, as the API names them (DOMAIN.md §8; the OpenAPI document's enum for
// `district`): campaigns are listed by the merchant's district, and a resident may give theirs.
export const DISTRICTS = [
  '滨城区', '沾化区', '惠民县', '阳信县', '无棣县', '博兴县', '邹平市',
  '滨州经济技术开发区', '滨州高新技术产业开发区', '北海经济开发区',
];
