"""
Writes `train.txt` and `dev.txt` of the NER demo: synthetic, original news-style sentences in
the CoNLL-2003 column format (`token POS chunk NER`, IOB1 tags PER/LOC/ORG/MISC).

Every sentence comes from one of the hand-written templates below, its slots filled from
hand-written entity lists. The POS and chunk columns are the placeholder `-X-` (only the NER
column is meant to be used). Documents start with a `-DOCSTART-` line and a dateline
(`BERLIN 2019-03-14`), as in CoNLL-2003.

Names and templates listed as dev-only never occur in `train.txt`, so dev scores show how
well a tagger generalizes to unseen names and sentence frames. The names in
`sentences.jsonl` are kept out of the lists, except a few common ones (see README.md).

The output is deterministic: `python3 examples/ner_sample/make_sample.py` rewrites the same
files byte for byte.
"""
import random
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

SEED = 2017
NUM_TRAIN_SENTENCES = 400
NUM_DEV_SENTENCES = 80
# Probability that a dev slot is filled from the `dev_only` names.
DEV_UNSEEN_RATE = 0.5
PLACEHOLDER = "-X-"

# kind -> (entity type or O, entries used in train and dev, entries used only in dev).
# An entry may start with "the " (a lowercase article outside the entity).
LEXICON: Dict[str, Tuple[str, List[str], List[str]]] = {
    "FIRST": (
        "PER",
        """Peter Maria Johan Anna Carlos Yuki Ahmed Elena Thomas Sophie Ivan Fatima Marco
        Ingrid David Lucia Kenji Olga Pierre Helen Stefan Rosa Michael Nadia Jan Laura Hiroshi
        Sara Paulo Katarina Robert Amina George Ewa Luis Mei Hans Clara Viktor Grace Tomas
        Julia Rahul Ines Samuel Irina Daniel Chen Alberto Agnieszka Bernard Brigitte Carmen
        Dmitri Dorota Eduardo Emma Erik Felipe Francesca Giorgos Hanna Hassan Ilse Jacques
        Jorge Joseph Karim Karl Kwame Lars Lena Lorenzo Magnus Mariana Martin Miguel Milan Mira
        Mohammed Nikolai Nora Omar Patrick Pavel Priya Ricardo Roberto Ruth Sanjay Sergei
        Simone Stanislav Svetlana Takeshi Teresa Ulrich Vera Walter Werner Yasmin Yusuf Zoran
        Adrian Alice Andreas Arjun Astrid Boris Catherine Cristina Diego Dieter Elif Emil Fiona
        Gustavo Hugo Ibrahim Isabel Jakob Jelena Juan Kofi Leon Liam Manuel Mario Matteo Mehmet
        Nicolas Noor Paolo Rafaela Raymond Salma Sean Silvia Sven Tariq Ursula Valentina""".split(),
        """Oscar Leila Mikhail Greta Rafael Aiko Henrik Beatriz Anders Chiara Dragan Farid
        Gabriela Hamid Ingeborg Janusz Kenneth Luisa""".split(),
    ),
    "SURNAME": (
        "PER",
        """Hansen Lopez Berg Novak Schmidt Tanaka Haddad Petrova Rossi Jensen Kowalski Moreau
        Fischer Silva Nakamura Ivanov O'Brien Andersson Mueller Costa Kim Nielsen Dubois Romano
        Yilmaz Horvat Sato Weber Popescu Murphy Larsen Garcia Hoffmann Bauer Fernandes Svoboda
        Kaplan Mendes Lindqvist Okafor Mwangi Bianchi Wagner Kumar Chowdhury Walsh Grant Keller
        Vogel Marino Jovanovic Nowak Varga Sokolov Hughes Barros Adeyemi Albrecht Alvarez
        Antonescu Arslan Baker Banerjee Becker Bergstrom Bertrand Borg Brandt Brennan Campbell
        Carvalho Christensen Conti Cruz Dahl Demir Dimitrov Dlamini Eklund Esposito Falk Ferrara
        Fleming Fontaine Gallo Gomez Greco Gunnarsson Halvorsen Hartmann Herrera Holm Ito Jaeger
        Janssen Karlsson Kaya Klein Koch Kozlov Kruger Lambert Lange Laurent Lehmann Lindberg
        Lombardi Maier Marquez Martens Meyer Mikkelsen Moretti Morozov Nagy Navarro Nikolaidis
        Nyberg Ogunleye Olsen Otieno Park Pereira Peters Pham Pretorius Quinn Ramos Reyes Ribeiro
        Richter Rojas Russo Ryan Santos Schneider Schulz Shapiro Sharma Simon Singh Stewart
        Suarez Takahashi Tan Torres Vasquez Vidal Volkov Watanabe Winter Wolff Yamamoto Zhang
        Zielinski Abdullah Bakker Byrne Castro Dekker Duarte Engel Farouk Gruber Hayes Iqbal
        Jakobsen Kovalenko Lindgren Mancini Nieminen Osei Pavlov Quintero Rasmussen Sorensen
        Toth Urban Vargas Wojcik Zapata""".split(),
        """Eriksen Castillo Papadopoulos Abe Kovacs Dunne Strand Mahmoud Ortega Lund Berisha
        Coelho Dobrev Forsberg Guerrero Haugen Kapoor Lewandowski Magnusson Novotny""".split(),
    ),
    "CITY": (
        "LOC",
        [
            *"""London Berlin Madrid Rome Moscow Tokyo Sydney Cairo Nairobi Jakarta Lima
            Chicago Toronto Stockholm Vienna Warsaw Athens Lisbon Dublin Oslo Brussels Geneva
            Frankfurt Prague Budapest Zagreb Manila Hamburg Edinburgh Marseille Naples Mumbai
            Delhi Belgrade Bucharest Kiev Tehran Baghdad Damascus Jerusalem Ankara Riyadh
            Auckland Vancouver Boston Miami Washington Montevideo Quito Havana Munich Milan
            Zurich Amsterdam Rotterdam Antwerp Cologne Stuttgart Leipzig Bordeaux Valencia
            Bilbao Genoa Florence Bologna Salzburg Gdansk Riga Tallinn Vilnius Minsk Odessa
            Tbilisi Baku Almaty Kabul Islamabad Lahore Dhaka Colombo Kathmandu Singapore Shanghai
            Taipei Busan Perth Brisbane Wellington Houston Dallas Atlanta Seattle Ottawa Calgary
            Brasilia Cordoba Dakar Accra Abuja Kampala Harare Lusaka Tunis Algiers Amman Beirut
            Doha Dubai""".split(),
            "Hong Kong", "New York", "Los Angeles", "Rio de Janeiro", "Buenos Aires",
            "Sao Paulo", "Mexico City", "Kuala Lumpur", "Cape Town",
        ],
        "Helsinki Copenhagen Montreal Karachi Lagos Hanoi Bogota Santiago Krakow Glasgow".split(),
    ),
    "COUNTRY": (
        "LOC",
        [
            *"""Britain Germany Spain Italy Russia Japan China Brazil Argentina Kenya Egypt
            Poland Sweden Norway Turkey Greece Canada Australia India Pakistan Indonesia Mexico
            U.S. Belgium Portugal Austria Switzerland Iran Iraq Israel Syria Nigeria Chile Peru
            Colombia Thailand Vietnam Ireland Denmark Hungary Romania Ukraine Croatia Serbia
            Scotland Ghana Cuba Uruguay""".split(),
            "South Africa", "South Korea", "New Zealand", "Saudi Arabia", "the United States",
            "the Netherlands", "the Philippines",
        ],
        "Finland Morocco Venezuela Malaysia Bulgaria Ecuador".split(),
    ),
    "NAT": (
        "MISC",
        [
            *"""German French British Spanish Italian Russian Japanese Chinese Brazilian Argentine
            Kenyan Egyptian Polish Swedish Norwegian Turkish Greek Canadian Australian Indian
            Pakistani Dutch Belgian Portuguese Austrian Swiss Iranian Israeli Nigerian Mexican
            American Irish Danish Hungarian Czech Ukrainian Croatian Serbian Scottish Korean
            Chilean""".split(),
            "South African",
        ],
        "Finnish Moroccan Venezuelan Bulgarian Romanian".split(),
    ),
    "COMPANY": (
        "ORG",
        [
            *"""Siemens Volvo Nestle Toyota Unilever Philips Fiat Nokia Ericsson Renault Boeing
            Microsoft Daimler-Benz Sony Hyundai Petrobras Alcatel Bayer BASF Novartis Carlsberg
            Telefonica Repsol Gazprom Intel IBM Rolls-Royce Olivetti Statoil Skoda Peugeot
            Michelin Bosch Adidas Ikea Carrefour Danone ENI Enel Vodafone Tesco Hitachi Toshiba
            Panasonic Canon Fujitsu Infosys Huawei Lenovo Embraer Cemex Bombardier Roche Allianz
            AXA Generali Maersk Saab Scania Thyssen Nike Pepsi Coca-Cola Nintendo Yamaha Mazda
            Subaru Bridgestone Kirin Daewoo Posco Acer Foxconn Tencent Baidu Sinopec Lukoil
            Rosneft Aeroflot Swissair Sabena Alitalia Ryanair Qantas Diageo Guinness Ahold Aegon
            Akzo Solvay Umicore Arcelor Usinor Krupp Linde Henkel Beiersdorf Merck Pfizer Sanofi
            Zeneca Amgen Medtronic Motorola Xerox Kodak Compaq Oracle Cisco Google Netflix Vestas
            Tesla Ricoh Nikon Kyocera Suntory Petronas Pemex Codelco Glencore Woolworths Walmart
            Auchan Benetton Prada Gucci Inditex Wartsila Kone Fortum Orkla Telenor""".split(),
            "Norsk Hydro", "Rio Tinto",
            "Mitsubishi Heavy Industries", "LG Electronics", "Novo Nordisk", "Tata Motors",
            "Royal Dutch Shell", "Deutsche Telekom", "General Motors", "British Airways",
            "Glaxo Wellcome", "Honda Motor Co", "Tata Steel", "Ford Motor Co",
        ],
        ["Lufthansa", "ABB", "Heineken", "Samsung", "Pirelli", "Electrolux", "Kia Motors"],
    ),
    "BANK": (
        "ORG",
        [
            "Deutsche Bank", "Barclays", "Credit Suisse", "HSBC", "UBS", "Nomura Securities",
            "Goldman Sachs", "ING Barings", "Commerzbank", "Santander", "Merrill Lynch",
            "Societe Generale",
        ],
        ["Rabobank", "Nordea", "Dresdner Bank"],
    ),
    "CENTRAL_BANK": (
        "ORG",
        [
            "the Bundesbank", "the Federal Reserve", "the Bank of England", "the Bank of Japan",
            "the European Central Bank", "the Swiss National Bank", "the Bank of Canada",
            "the Reserve Bank of India",
        ],
        ["the Riksbank", "the Bank of Korea"],
    ),
    "CLUB": (
        "ORG",
        [
            *"""Juventus Celtic Benfica Feyenoord Galatasaray Anderlecht Rangers Everton Lazio
            Ajax Fenerbahce Liverpool Arsenal Schalke Napoli Roma Newcastle""".split(),
            "Bayern Munich", "Real Madrid", "Leeds United", "Olympique Marseille",
            "Sparta Prague", "Aston Villa", "Hamburg SV", "AC Milan", "Inter Milan",
            "Borussia Dortmund", "Atletico Madrid", "Red Star Belgrade", "Dynamo Moscow",
            "Boca Juniors", "River Plate", "Werder Bremen", "Sporting Lisbon",
        ],
        ["Sampdoria", "Olympiakos", "Besiktas", "Tottenham", "PSV Eindhoven", "Dynamo Kiev"],
    ),
    "BODY": (
        "ORG",
        [
            "the United Nations", "the European Union", "NATO", "the World Bank",
            "the International Monetary Fund", "the European Commission", "the Red Cross",
            "the World Trade Organisation", "the Interior Ministry", "the Foreign Ministry",
            "Amnesty International", "Greenpeace", "UNICEF", "the Council of Europe",
            "the African Union", "the Arab League", "the Supreme Court", "OPEC",
        ],
        ["the OECD", "UNESCO", "Interpol", "the World Food Programme"],
    ),
    "SPORT_BODY": (
        "ORG",
        [
            "FIFA", "UEFA", "the International Olympic Committee", "the Football Association",
            "the International Cricket Council", "the IAAF", "the International Tennis Federation",
        ],
        ["the International Rugby Board", "FIBA"],
    ),
    "PARTY": (
        "ORG",
        [
            "the Labour Party", "the Conservative Party", "the Social Democrats",
            "the Christian Democrats", "the Socialist Party", "the Freedom Party",
            "the Liberal Democrats", "the Green Party", "the Democratic Party",
            "the Republican Party",
        ],
        ["the Centre Party", "the Progress Party"],
    ),
    "AGENCY": (
        "ORG",
        "Interfax Kyodo Xinhua ITAR-TASS Anatolian ANSA Yonhap Tanjug PAP MENA".split(),
        ["Antara", "EFE"],
    ),
    "NEWSPAPER": (
        "ORG",
        [
            "Handelsblatt", "the Financial Times", "El Pais", "Kommersant", "the Asahi Shimbun",
            "Corriere della Sera", "the Globe and Mail", "Gazeta Wyborcza",
        ],
        ["Helsingin Sanomat", "the Irish Times"],
    ),
    "EVENT": (
        "MISC",
        [
            "World Cup", "Olympic Games", "European Championship", "Davis Cup", "Ryder Cup",
            "UEFA Cup", "Champions League", "Asian Games", "Commonwealth Games", "U.S. Open",
            "Australian Open", "Italian Grand Prix", "Monaco Grand Prix", "Belgian Grand Prix",
            "Copa America", "Africa Cup of Nations", "Super Bowl",
        ],
        ["Stanley Cup", "Gold Cup", "Japanese Grand Prix", "Winter Olympics"],
    ),
    "PEOPLE": (
        "O",
        """analysts officials diplomats economists witnesses residents investors traders
        farmers doctors teachers students workers soldiers pilots nurses miners dockers
        fishermen lawyers judges bankers brokers engineers journalists villagers protesters
        pensioners shopkeepers""".split(),
        "taxi-drivers bakers".split(),
    ),
    "TITLE": (
        "O",
        [
            "chief executive", "chairman", "finance director", "spokesman", "spokeswoman",
            "managing director", "head of research", "chief economist",
        ],
        ["treasurer"],
    ),
    "FIRM_NOUN": (
        "O",
        """company group carmaker insurer retailer airline brewer chipmaker steelmaker utility
        conglomerate firm drugmaker miner shipbuilder publisher broadcaster supermarket
        manufacturer distributor""".split(),
        "toymaker shipper".split(),
    ),
    "MOVED": (
        "O",
        "rose fell climbed slipped dropped jumped gained eased plunged soared slumped".split(),
        ["edged up", "tumbled"],
    ),
    "REASON": (
        "O",
        [
            "because of weak demand", "after a sharp fall in orders", "due to higher costs",
            "amid fears of a recession", "after a strike at its main plant",
            "because of the strong currency", "on hopes of lower interest rates",
            "after a profit warning", "as investors took profits", "on strong export sales",
            "after heavy selling by funds", "despite a weak economy",
        ],
        ["after a surprise rate cut", "on rumours of a takeover"],
    ),
    "UNREST": (
        "O",
        [
            "clashes", "riots", "protests", "a demonstration", "street fighting", "a bombing",
            "a shooting", "a hunger strike", "a march", "looting",
        ],
        ["a sit-in"],
    ),
    "DISASTER": (
        "O",
        [
            "floods", "a storm", "a landslide", "a fire", "an explosion", "a train crash",
            "a gas leak", "heavy snow", "a typhoon", "a mudslide", "a ferry accident",
        ],
        ["a blizzard", "an avalanche"],
    ),
    "PLACE_NOUN": (
        "O",
        [
            "embassy", "parliament", "airport", "railway station", "city hall", "stadium",
            "harbour", "market", "cathedral", "university", "consulate", "prison",
        ],
        ["courthouse"],
    ),
    "SAID": (
        "O",
        ["said", "told reporters", "added", "warned", "stressed", "confirmed", "announced",
         "insisted", "noted"],
        ["admitted"],
    ),
    "POSITION": (
        "O",
        "striker midfielder goalkeeper defender winger captain forward".split(),
        ["playmaker"],
    ),
    "PRIZE": (
        "MISC",
        ["Booker Prize", "Nobel Prize for Literature", "Pulitzer Prize", "Man Booker"],
        ["Nobel Peace Prize", "Prix Goncourt"],
    ),
}

DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = """January February March April May June July August September October November
December""".split()
CURRENCIES = ["dollars", "euros", "pounds", "yen", "Swiss francs", "crowns"]

POLITICS = [
    "{PER} , the {NAT} foreign minister , arrived in {CITY} on {DAY} for two days of talks .",
    "{NAT} Prime Minister {PER} said on {DAY} the government would not change its policy "
    "towards {COUNTRY} .",
    "{COUNTRY} and {COUNTRY} agreed on {DAY} to resume peace talks in {CITY} next month , "
    "officials said .",
    "{BODY} called on {COUNTRY} to release {NUM} opposition activists detained since {MONTH} .",
    "{NAT} opposition leader {PER} {SAID} on {DAY} that the government had lost the trust of "
    "voters .",
    "{PER} flew to {CITY} on {DAY} for a meeting with {NAT} officials about the refugee "
    "crisis .",
    "President {SURNAME} met {BODY} envoy {PER} in {CITY} on {DAY} .",
    "The airline will resume its {CITY} {CITY} route on {DAY} , a {NAT} spokesman said .",
    "{SURNAME} told reporters in {CITY} that {COUNTRY} was ready to sign the agreement by "
    "{MONTH} .",
    "{PARTY} won {NUM} seats in {DAY} 's election in {COUNTRY} , official results showed .",
    "{PARTY} leader {PER} said the result was a clear message to the government in {CITY} .",
    "{NUM} people were killed in {UNREST} between police and protesters in {CITY} , the "
    "{AGENCY} news agency said .",
    "The {NAT} government expelled two {NAT} diplomats on {DAY} , accusing them of spying .",
    "{PER} , a senior official at {BODY} , said the talks in {CITY} had made good progress .",
    "{NAT} {NAT} relations have improved since {YEAR} , {SURNAME} said in {CITY} .",
    "The {SURNAME} {SURNAME} summit in {CITY} ended on {DAY} without a joint statement .",
    "{BODY} will send {BIG} peacekeepers to {COUNTRY} before the end of {MONTH} .",
    "Foreign ministers of {COUNTRY} , {COUNTRY} and {COUNTRY} will meet in {CITY} on {MONTH} "
    "{DATE_DAY} .",
    "{PER} resigned as {NAT} defence minister on {DAY} after a row over arms sales to "
    "{COUNTRY} .",
    "Voters in {COUNTRY} go to the polls on {DAY} , with {PARTY} of {PER} leading in opinion "
    "polls .",
    "\" We will not accept any deal that divides {COUNTRY} , \" {SURNAME} told a rally in "
    "{CITY} .",
    "{PEOPLE} in {CITY} said the new law would hurt the economy , {AGENCY} reported .",
    "Thousands of {PEOPLE} marched through {CITY} on {DAY} to protest against the visit of "
    "{NAT} President {PER} .",
]
POLITICS_DEV = [
    "{PER} was elected president of {COUNTRY} on {DAY} with {NUM} percent of the vote .",
    "Talks between {COUNTRY} and {BODY} broke down in {CITY} , a {NAT} diplomat said .",
]

BUSINESS = [
    "{COMPANY} said on {DAY} its net profit {MOVED} {PERCENT} percent to {MONEY} in the "
    "first half .",
    "Shares in {COMPANY} {MOVED} {NUM} percent in {CITY} {REASON} .",
    "{COMPANY} , the {NAT} {FIRM_NOUN} , {SAID} on {DAY} it would cut {BIG} jobs {REASON} .",
    "The {FIRM_NOUN} {COMPANY} {SAID} its sales in {COUNTRY} had {MOVED} {REASON} .",
    "Profits at {COMPANY} {MOVED} in the third quarter {REASON} , the {FIRM_NOUN} said .",
    "{COMPANY} chief executive {PER} told reporters in {CITY} that the group planned to cut "
    "{BIG} jobs .",
    "{COMPANY} agreed to buy its {NAT} rival {COMPANY} for {MONEY} , the two companies said .",
    "{CENTRAL_BANK} left interest rates unchanged at {PERCENT} percent on {DAY} .",
    "{NAT} group {COMPANY} raised its sales forecast for {YEAR} after strong demand in "
    "{COUNTRY} .",
    "{PER} , an analyst at {BANK} in {CITY} , said the market expected further gains .",
    "The dollar rose to {YEN} yen in {CITY} on {DAY} as traders waited for comments from "
    "{CENTRAL_BANK} .",
    "{COMPANY} will open a new plant in {COUNTRY} next year , creating {BIG} jobs , {SURNAME} "
    "said .",
    "{BANK} raised its forecast for {NAT} economic growth to {PERCENT} percent .",
    "Stocks in {CITY} closed {PERCENT} percent higher on {DAY} , led by gains in {COMPANY} and "
    "{COMPANY} .",
    "The {CITY} market {MOVED} {PERCENT} percent on {DAY} {REASON} , dealers said .",
    "{COMPANY} and {COMPANY} are in talks about a merger , the newspaper {NEWSPAPER} reported "
    "on {DAY} .",
    "{COMPANY} reported a loss of {MONEY} for {YEAR} and said it would close its factory near "
    "{CITY} .",
    "Oil prices rose on {DAY} after OPEC ministers meeting in {CITY} agreed to cut output .",
    "{COMPANY} won a {MONEY} contract to build a power station in {COUNTRY} , the company said "
    "in {CITY} .",
    "{BODY} approved a loan of {MONEY} to {COUNTRY} on {DAY} .",
    "{PER} will replace {PER} as chairman of {COMPANY} in {MONTH} , the board said .",
    "{PEOPLE} said {COMPANY} was likely to raise its offer for {COMPANY} .",
    "{COMPANY} {TITLE} {PER} said on {DAY} that sales in {COUNTRY} had slowed .",
    "{COMPANY} {TITLE} {PER} resigned on {DAY} after {NUM} years at the {FIRM_NOUN} .",
    "{BANK} bought a {NUM} percent stake in {COMPANY} for {MONEY} , the bank said .",
    "Investors sold shares in {COMPANY} and {COMPANY} {REASON} .",
    "Shares in {COMPANY} , the {NAT} {FIRM_NOUN} , {MOVED} {PERCENT} percent on {DAY} .",
]
BUSINESS_DEV = [
    "{COMPANY} shares jumped {PERCENT} percent after {BANK} upgraded the stock to buy .",
    "{BANK} appointed {PER} as {TITLE} in {CITY} , a spokesman said on {DAY} .",
]

SPORTS = [
    "{CLUB} beat {CLUB} {SCORE} on {DAY} to go top of the table .",
    "{PER} scored twice as {CLUB} won {SCORE} at {CLUB} on {DAY} .",
    "{NAT} {POSITION} {PER} will miss the {EVENT} with a knee injury .",
    "{NAT} {POSITION} {PER} joined {CLUB} from {CLUB} for {MONEY} on {DAY} .",
    "{CLUB} reached the {EVENT} final after beating {CLUB} {SCORE} in {CITY} .",
    "{PER} ( {COUNTRY} ) beat {PER} ( {COUNTRY} ) {SETS}",
    "{SURNAME} , who won the {EVENT} in {YEAR} , finished third in {CITY} on {DAY} .",
    "{COUNTRY} beat {COUNTRY} {SCORE} in a friendly international in {CITY} on {DAY} .",
    "{CITY} will host the {EVENT} in {YEAR} , {SPORT_BODY} announced on {DAY} .",
    "{CLUB} coach {PER} said the team deserved more than the {DRAW} draw against {CLUB} .",
    "{CLUB} {GOALS} {CLUB} {GOALS}",
    "{PER} of {COUNTRY} won the men 's downhill in {CITY} on {DAY} .",
    "{SURNAME} signed a three-year contract with {CLUB} on {DAY} , the club said .",
    "{COUNTRY} were bowled out for {RUNS} on the first day of the second test against "
    "{COUNTRY} in {CITY} .",
    "{RANK} {PER} ( {COUNTRY} ) {RACE_TIME}",
    "{PER} , the {NAT} world champion , pulled out of the {EVENT} on {DAY} .",
    "{SPORT_BODY} fined {CLUB} {MONEY} after crowd trouble at the match against {CLUB} .",
    "{NAT} cyclist {PER} won the fourth stage in {CITY} on {DAY} .",
    "{CLUB} , who lost {SCORE} to {CLUB} last week , face {CLUB} on {DAY} .",
    "Fans of {CLUB} celebrated in the streets of {CITY} until the early hours .",
    "{PER} , {AGE} , {SAID} after the match that {CLUB} had been unlucky .",
    "Defending champion {PER} was knocked out of the {EVENT} by {PER} of {COUNTRY} .",
    "{PER} won the {EVENT} for the second time on {DAY} , beating {PER} in the final .",
]
SPORTS_DEV = [
    "{PER} ( {COUNTRY} ) won the final in {CITY} , beating {PER} in straight sets .",
    "{CLUB} sacked coach {PER} on {DAY} after a {SCORE} defeat by {CLUB} .",
]

GENERAL = [
    "Police in {CITY} arrested {NUM} people on {DAY} after {UNREST} near the {NAT} "
    "{PLACE_NOUN} .",
    "{NUM} people died in {DISASTER} near {CITY} on {DAY} , the {AGENCY} news agency said .",
    "Rescue workers searched for survivors after {DISASTER} hit the {NAT} town of {CITY} .",
    "{NUM} people were killed when a bus crashed near {CITY} in southern {COUNTRY} , the "
    "{AGENCY} news agency reported .",
    "A spokesman for {BODY} in {CITY} said food aid would reach {COUNTRY} by {MONTH} .",
    "{PER} , {AGE} , was sentenced to {NUM} years in prison by a court in {CITY} on {DAY} .",
    "Heavy rain caused floods across northern {COUNTRY} on {DAY} , forcing {BIG} people from "
    "their homes .",
    "An earthquake of magnitude {MAGNITUDE} shook {CITY} on {DAY} , {AGENCY} reported .",
    "{NAT} writer {PER} won this year 's {PRIZE} , the jury announced in {CITY} .",
    "The {NAT} embassy in {CITY} said {NUM} of its citizens were missing after "
    "{DISASTER} .",
    "Flights between {CITY} and {CITY} were cancelled on {DAY} because of a strike at "
    "{COMPANY} .",
    "{PER} , a {NAT} tourist , was rescued on {DAY} after three days lost in the mountains "
    "near {CITY} .",
    "{BODY} said on {DAY} that {BIG} refugees had crossed into {COUNTRY} since {MONTH} .",
    "The trial of {PER} opened in {CITY} on {DAY} , {NUM} months after the attack .",
    "{NAT} troops will leave {COUNTRY} by {MONTH} , Defence Minister {PER} said .",
    "The {CITY} {CITY} flight was delayed for {NUM} hours after a bomb threat .",
    "{PEOPLE} in the {NAT} capital reported long queues at petrol stations on {DAY} .",
]
GENERAL_DEV = [
    "Firefighters in {CITY} fought a blaze at a {COMPANY} warehouse for {NUM} hours on {DAY} .",
    "{NAT} police said on {DAY} they had arrested {PER} in connection with a robbery in "
    "{CITY} .",
]

# (templates of train and dev, templates only in dev) per domain
DOMAINS = [
    (POLITICS, POLITICS_DEV),
    (BUSINESS, BUSINESS_DEV),
    (SPORTS, SPORTS_DEV),
    (GENERAL, GENERAL_DEV),
]

Tagged = List[Tuple[str, str]]


class Filler:
    """Fills template slots for one split; `unseen_rate` > 0 mixes in the dev-only entries."""

    def __init__(self, rng: random.Random, unseen_rate: float) -> None:
        self.rng = rng
        self.unseen_rate = unseen_rate

    def name(self, kind: str) -> Tuple[str, str]:
        label, seen, unseen = LEXICON[kind]
        pool = unseen if self.rng.random() < self.unseen_rate else seen
        return label, self.rng.choice(pool)

    def slot(self, kind: str) -> Tagged:
        """The tokens of one slot with their entity type (`O` outside entities)."""
        rng = self.rng
        if kind == "PER":
            _, first = self.name("FIRST")
            _, last = self.name("SURNAME")
            return [(first, "PER"), (last, "PER")]
        if kind in LEXICON:
            label, entry = self.name(kind)
            words = entry.split()
            if words[0] == "the":
                return [("the", "O")] + [(w, label) for w in words[1:]]
            return [(w, label) for w in words]
        if kind == "DATELINE":
            label, city = self.name("CITY")
            date = f"{rng.randint(2015, 2023)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            return [(w.upper(), label) for w in city.split()] + [(date, "O")]
        text = {
            "DAY": lambda: rng.choice(DAYS),
            "MONTH": lambda: rng.choice(MONTHS),
            "DATE_DAY": lambda: str(rng.randint(1, 28)),
            "NUM": lambda: str(rng.randint(2, 40)),
            "BIG": lambda: f"{rng.randint(1, 9)},{rng.randint(0, 999):03d}"
            if rng.random() < 0.5
            else str(rng.randint(100, 999)),
            "AGE": lambda: str(rng.randint(19, 78)),
            "YEAR": lambda: str(rng.randint(1990, 2022)),
            "YEN": lambda: f"{rng.randint(98, 125)}.{rng.randint(10, 99)}",
            "PERCENT": lambda: f"{rng.randint(0, 12)}.{rng.randint(1, 9)}",
            "MONEY": lambda: (
                f"{rng.randint(12, 950)} million"
                if rng.random() < 0.7
                else f"{rng.randint(1, 9)}.{rng.randint(1, 9)} billion"
            )
            + f" {rng.choice(CURRENCIES)}",
            "SCORE": lambda: f"{rng.randint(1, 5)}-{rng.randint(0, 1)}",
            "DRAW": lambda: f"{(goals := rng.randint(0, 3))}-{goals}",
            "GOALS": lambda: str(rng.randint(0, 4)),
            "SETS": lambda: " ".join(
                f"6-{rng.randint(0, 4)}" for _ in range(rng.randint(2, 3))
            ),
            "RUNS": lambda: str(rng.randint(90, 420)),
            "RANK": lambda: str(rng.randint(1, 10)),
            "RACE_TIME": lambda: f"{rng.randint(1, 2)}:{rng.randint(10, 59)}.{rng.randint(10, 99)}",
            "MAGNITUDE": lambda: f"{rng.randint(4, 7)}.{rng.randint(0, 9)}",
        }[kind]()
        return [(word, "O") for word in text.split()]

    def sentence(self, template: str) -> Tuple[List[str], List[str]]:
        """Fills `template`; returns its tokens and their IOB1 tags."""
        tagged: Tagged = []
        slot_ids: List[int] = []
        used: Dict[str, set] = {}
        for slot_id, piece in enumerate(template.split()):
            if not (piece.startswith("{") and piece.endswith("}")):
                tagged.append((piece, "O"))
                slot_ids.append(slot_id)
                continue
            kind = piece[1:-1]
            # Two name slots of one kind in a sentence never get the same name.
            words = self.slot(kind)
            while kind in LEXICON or kind == "PER":
                text = " ".join(word for word, _ in words)
                if text not in used.setdefault(kind, set()):
                    used[kind].add(text)
                    break
                words = self.slot(kind)
            tagged.extend(words)
            slot_ids.extend([slot_id] * len(words))
        for i in range(len(tagged) - 1):
            # "a" before a vowel sound ("an Israeli spokesman"; but "a Ukrainian", "a U.S.").
            if tagged[i][0] == "a" and tagged[i + 1][0][0] in "AEIOaeio":
                tagged[i] = ("an", tagged[i][1])
        first_word, _ = tagged[0]
        tagged[0] = (first_word[0].upper() + first_word[1:], tagged[0][1])
        return [word for word, _ in tagged], iob1(tagged, slot_ids)


def iob1(tagged: Sequence[Tuple[str, str]], slot_ids: Sequence[int]) -> List[str]:
    """
    IOB1 tags: `I-TYPE` inside entities, `B-TYPE` only on the first token of an entity that
    directly follows another entity of the same type. `slot_ids[i]` identifies the slot token
    `i` comes from, so adjacent entities of one type stay apart.
    """
    tags = []
    for i, (_, label) in enumerate(tagged):
        if label == "O":
            tags.append("O")
        elif i > 0 and tagged[i - 1][1] == label and slot_ids[i - 1] != slot_ids[i]:
            tags.append(f"B-{label}")
        else:
            tags.append(f"I-{label}")
    return tags


def make_split(rng: random.Random, num_sentences: int, dev: bool) -> List[str]:
    """
    Returns the lines of one split: documents of a dateline and 4 to 9 sentences of one
    domain. The dev split also uses the `dev_only` names and templates.
    """
    filler = Filler(rng, DEV_UNSEEN_RATE if dev else 0.0)
    lines: List[str] = []
    count = 0
    while count < num_sentences:
        lines += [f"-DOCSTART- {PLACEHOLDER} {PLACEHOLDER} O", ""]
        templates, dev_templates = rng.choice(DOMAINS)
        if dev:
            templates = templates + dev_templates
        templates = ["{DATELINE}"] + rng.sample(templates, rng.randint(4, 9))
        for template in templates[: num_sentences - count]:
            words, tags = filler.sentence(template)
            lines += [f"{word} {PLACEHOLDER} {PLACEHOLDER} {tag}" for word, tag in zip(words, tags)]
            lines.append("")
            count += 1
    return lines


def main() -> None:
    rng = random.Random(SEED)
    out_dir = Path(__file__).resolve().parent
    for name, size, dev in (
        ("train.txt", NUM_TRAIN_SENTENCES, False),
        ("dev.txt", NUM_DEV_SENTENCES, True),
    ):
        lines = make_split(rng, size, dev)
        (out_dir / name).write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
